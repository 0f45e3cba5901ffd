#!/bin/bash
# The whole benchmark harness from a fresh clone, one command (as root):
#   sudo bench/all.sh
# installs what it needs (scripts/install-deps.sh, then the bench-only packages),
# builds bench/build (-DSNIFFER_BUILD_BENCH=ON), then runs one after the other, so
# that they do not disturb each other: micro_bpf (kernel ns/packet), micro_user
# (userspace records/s), callgrind.sh (instructions per record), run.sh (lab rate
# sweep, sniffer and tcpdump side by side), flowmode.sh (kernel flow aggregation
# against packet events at the generator's maximum rate), peers.sh (the sensor against tcpdump,
# softflowd, argus and pmacctd on the same live traffic), workers.sh (capture.workers 1 against 2
# on a 2-queue wan0, with micro_bpf --workers before it), offline.sh (--read-pcap against
# softflowd, argus, tshark and tcpdump on a >= 1 M packet capture). Figures on stdout; bench/README.md says
# what every column means. Not part of CI.
#   QUICK=1: fewer rounds and rates (a smoke run of the harness, not figures to quote)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/bench/build
QUICK=${QUICK:-0}

[[ $(id -u) -eq 0 ]] || { echo "bench/all.sh: run as root (BPF, network namespaces)" >&2; exit 2; }
"$ROOT/scripts/install-deps.sh" >/dev/null
# argus-server's and pmacct's packages start capture daemons on a systemd host: when this script
# installs them, those daemons are stopped and disabled (they would load the machine under the benchmarks).
had_argus=$(dpkg-query -W -f '${Status}' argus-server 2>/dev/null || true)
had_pmacct=$(dpkg-query -W -f '${Status}' pmacct 2>/dev/null || true)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libbenchmark-dev valgrind netsniff-ng tcpdump \
  softflowd argus-server argus-client pmacct tshark wireshark-common time >/dev/null
if [[ $had_argus != "install ok installed" && -d /run/systemd/system ]]; then
  systemctl disable --now argus.service >/dev/null 2>&1 || true
fi
if [[ $had_pmacct != "install ok installed" && -d /run/systemd/system ]]; then
  systemctl disable --now pmacctd.service nfacctd.service sfacctd.service uacctd.service >/dev/null 2>&1 || true
fi
cmake -S "$ROOT" -B "$BUILD" -DSNIFFER_BUILD_BENCH=ON -DSNIFFER_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD)"
if ((QUICK)); then
  echo "# QUICK=1: smoke run, not figures to quote"
  "$BUILD/bench/micro_bpf" --repeat 10000 --rounds 2
  "$BUILD/bench/micro_user" --benchmark_min_time=0.05
  N1=2000 N2=12000 BIN=$BUILD/bench/micro_user "$ROOT/bench/callgrind.sh"
  BUILD=$BUILD RATES="50000 max" DURATION=2 "$ROOT/bench/run.sh"
  BUILD=$BUILD QUICK=1 "$ROOT/bench/flowmode.sh"
  BUILD=$BUILD QUICK=1 "$ROOT/bench/peers.sh"
  "$BUILD/bench/micro_bpf" --workers --repeat 10000 --rounds 2
  BUILD=$BUILD QUICK=1 "$ROOT/bench/workers.sh"
  BUILD=$BUILD QUICK=1 "$ROOT/bench/offline.sh"
else
  echo "# micro_bpf"
  "$BUILD/bench/micro_bpf"
  echo "# micro_bpf --live"
  "$BUILD/bench/micro_bpf" --live
  echo "# micro_user"
  "$BUILD/bench/micro_user"
  echo "# callgrind"
  BIN=$BUILD/bench/micro_user "$ROOT/bench/callgrind.sh"
  echo "# run.sh"
  BUILD=$BUILD "$ROOT/bench/run.sh"
  echo "# flowmode.sh"
  BUILD=$BUILD "$ROOT/bench/flowmode.sh"
  echo "# peers.sh"
  BUILD=$BUILD "$ROOT/bench/peers.sh"
  echo "# micro_bpf --workers"
  "$BUILD/bench/micro_bpf" --workers
  echo "# workers.sh"
  BUILD=$BUILD "$ROOT/bench/workers.sh"
  echo "# offline.sh"
  BUILD=$BUILD "$ROOT/bench/offline.sh"
  echo "# offline.sh, long flows"
  BUILD=$BUILD CAPTURE=long "$ROOT/bench/offline.sh"
fi
