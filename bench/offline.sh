#!/bin/bash
# Offline flow metering side by side (issue 14): sniffer --read-pcap against softflowd, argus,
# tshark and the tcpdump floor, on one capture of >= 1 M packets built from tests/data/pcaps
# (bench/lib/corpus_capture.sh; cached in bench/build/offline/). Interleaved rounds: every round
# runs every tool once on the same file, the order rotating from round to round, so that they
# share the noise of this shared machine. Per tool: packets/s of wall time (median of the rounds, and
# min-max), packets/s of CPU time (user+sys: what the tool costs, whatever the other sessions do;
# median, min-max), wall and CPU seconds (medians, to the millisecond), time relative to sniffer's
# default offline path, peak RSS (/usr/bin/time %M: process memory only, not sniffer's BPF maps),
# flow records written. The load average is read before every round (its range is printed).
#   sudo bench/offline.sh [SNIFFER]     default bench/build/sniffer (built if missing)
#   ROUNDS=5 PACKETS=1000000 BUILD=bench/build KEEP=0;  QUICK=1: 1 round, ~100 k packets
#   CAPTURE=corpus (copies of the whole corpus, ~3.3 packets a flow) or long (copies of one HTTP
#   capture, ~58 packets a flow: the per-packet cost without the per-flow one)
#   OLD=PATH: another sniffer binary (e.g. a build before a change), timed in the same rounds on the
#   default offline path, as old:userspace:<engine> (its rows compared with SNIFFER's, `cmp`)
# sniffer runs once per flows.aggregation ("userspace", "kernel") and, when its --help lists
# --engine, per engine (user, kernel); a combination sniffer refuses is shown as n/a with its
# reason. The tools are installed by bench/all.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/bench/build}
QUICK=${QUICK:-0}
if ((QUICK)); then ROUNDS=${ROUNDS:-1}; PACKETS=${PACKETS:-100000}; fi
ROUNDS=${ROUNDS:-5}
PACKETS=${PACKETS:-1000000}
SNIFFER=${1:-$BUILD/sniffer}
source "$ROOT/bench/lib/corpus_capture.sh"

die() { echo "offline.sh: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "run as root (sniffer loads BPF programs)"
for t in tcpdump softflowd argus racount tshark editcap mergecap capinfos /usr/bin/time; do
  command -v "$t" >/dev/null || die "$t missing: sudo bench/all.sh installs the tools (or apt-get install the packages it names)"
done
if [[ ! -x $SNIFFER ]]; then
  [[ $# -eq 0 ]] || die "$SNIFFER: not an executable"
  echo "# building $SNIFFER" >&2
  cmake -S "$ROOT" -B "$BUILD" -DSNIFFER_BUILD_BENCH=ON -DSNIFFER_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target sniffer >/dev/null
fi

case ${CAPTURE:=corpus} in
  corpus) CAP=$(corpus_capture "$ROOT/bench/build/offline" "$PACKETS") ;;
  long) CAP=$(long_capture "$ROOT/bench/build/offline" "$PACKETS") ;;
  *) die "CAPTURE=$CAPTURE: corpus or long" ;;
esac
PKTS=$(capinfos -T -r -c -M "$CAP" | cut -f2)
W=$(mktemp -d /tmp/sniffer-offline.XXXX)
trap '((${KEEP:-0})) && echo "kept $W" >&2 || rm -rf "$W"' EXIT

# sniffer's configs: one interface for the capture; no metrics listener (nothing to serve, and
# no port taken); everything else the defaults (65,536 flows, idle timeout 120 s).
for agg in userspace kernel; do
  printf '{"interfaces": [{"name": "pcap0", "role": "wan", "mode": "gateway"}], "flows": {"aggregation": "%s"}, "metrics": {"listen": ""}}\n' \
    "$agg" >"$W/$agg.json"
done
ENGINES=(default)
[[ $("$SNIFFER" --help) == *--engine* ]] && ENGINES=(user kernel)
# The default offline path, the reference for "x sniffer": userspace aggregation (the config
# default) with the default engine (the issue's: user).
BASE=sniffer:userspace:${ENGINES[0]}

# set_cmd TOOL: CMD = the command line. softflowd: NetFlow v9 (exports IPv6 too) to a loopback
# port nobody listens on, its table as large as sniffer's; -p: it deletes its pid file at exit,
# keep it off the system's. argus: -X, none of /etc/argus.conf (its output file).
set_cmd() {
  local agg eng
  case $1 in
    tcpdump) CMD=(tcpdump -r "$CAP" -w /dev/null) ;;
    softflowd) CMD=(softflowd -r "$CAP" -d -v 9 -m 65536 -n 127.0.0.1:9995 -p "$W/softflowd.pid") ;;
    argus) CMD=(argus -X -r "$CAP" -w "$W/out.argus") ;;
    tshark) CMD=(tshark -r "$CAP" -q -z 'conv,tcp') ;;
    sniffer:* | old:*)
      local bin=$SNIFFER
      [[ $1 == old:* ]] && bin=$OLD
      IFS=: read -r _ agg eng <<<"$1"
      CMD=("$bin" --config "$W/$agg.json" --read-pcap "$CAP" --write-csv "$W/out.csv")
      [[ $eng == default ]] || CMD+=(--engine "$eng") ;;
  esac
}

# flow_records TOOL: the flow records the last run wrote, where cheap to tell ("-" else).
# softflowd offline ends a flow only when its table is full (no timeouts from a file's clock), so
# its count merges what timed out; argus writes status records (every 5 s of a flow's life).
flow_records() {
  case $1 in
    softflowd) sed -n 's/^Flows exported: \([0-9]*\).*/\1/p' "$W/out" ;;
    argus) racount -r "$W/out.argus" | awk '$1 == "sum" { print $2 " status" }' ;;
    sniffer:* | old:*) echo $(($(wc -l <"$W/out.csv") - 1)) ;;
    *) echo - ;;
  esac
}

# run TOOL: one timed run; appends "wall_s cpu_s rss_kib" to $W/TOOL.t (wall from bash's clock to
# the microsecond; CPU user+sys from bash's `time`, to the millisecond: /usr/bin/time's %U %S have
# 10 ms steps, 4 % of softflowd's run; peak RSS from /usr/bin/time), or records why it failed.
run() {
  local t0 t1 ok=1
  set_cmd "$1"
  rm -f "$W/out.argus" "$W/out.csv"
  t0=$EPOCHREALTIME
  { time /usr/bin/time -f '%M' -o "$W/time" "${CMD[@]}" >"$W/out" 2>"$W/err" || ok=0; } 2>"$W/cpu"
  t1=$EPOCHREALTIME
  if ((ok)); then
    awk -v a="$t0" -v b="$t1" -v cpu="$(cat "$W/cpu")" '{ split(cpu, c, " "); printf "%.6f %.3f %d\n", b - a, c[1] + c[2], $1 }' \
      "$W/time" >>"$W/$1.t"
    flow_records "$1" >"$W/$1.flows"
    # The default path's CSV, kept from each binary for the comparison at the end.
    if [[ $1 == "$BASE" || $1 == old:* ]]; then mv "$W/out.csv" "$W/${1%%:*}.csv"; fi
  else
    echo "failed ($(head -1 "$W/time")): $(grep -v '^Command ' "$W/err" | tail -1)" >"$W/$1.na"
  fi
}

TOOLS=(tcpdump softflowd argus tshark)
for agg in userspace kernel; do
  for eng in "${ENGINES[@]}"; do TOOLS+=("sniffer:$agg:$eng"); done
done
if [[ -n ${OLD:-} ]]; then
  [[ -x $OLD ]] || die "OLD=$OLD: not an executable"
  TOOLS+=("old:userspace:${ENGINES[0]}")
fi
# Every tool runs once on a small capture first: its start-up time (start_s: loading, for sniffer
# the verifier and the maps; the 751 packets cost nothing next to it), and a combination sniffer
# refuses (e.g. kernel aggregation with the user engine) is found there and not timed.
PROBE=$ROOT/tests/data/pcaps/web/http_bro_org.pcap
for t in "${TOOLS[@]}"; do
  CAP=$PROBE set_cmd "$t"
  rm -f "$W/out.argus"
  t0=$EPOCHREALTIME
  if "${CMD[@]}" >/dev/null 2>"$W/err"; then
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }' >"$W/$t.start"
  else
    echo "refused: $(tail -1 "$W/err")" >"$W/$t.na"
  fi
done

echo "# offline.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# capture $CAP: $PKTS packets, $(capinfos -T -r -s "$CAP" | cut -f2) bytes; $ROUNDS round(s), order rotating; sniffer $SNIFFER, engines: ${ENGINES[*]}"
cat "$CAP" >/dev/null  # in the page cache for every tool alike
TIMEFORMAT='%3U %3S'
for ((r = 0; r < ROUNDS; r++)); do
  cut -d' ' -f1 /proc/loadavg >>"$W/load"
  n=${#TOOLS[@]}
  for ((k = 0; k < n; k++)); do
    t=${TOOLS[$(((k + r) % n))]}
    [[ -e $W/$t.na ]] || run "$t"
  done
done

# The table: medians over the rounds (packets/s from each round's wall time).
median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR + 1) / 2; printf "%.6f\n", (v[int(m)] + v[int(m + 0.5)]) / 2 }'; }
# summary FILE: median_pps min_pps max_pps median_cpu_pps min max median_wall median_cpu max_rss_mib
summary() {
  local wall cpu
  wall=$(cut -d' ' -f1 "$1" | median)
  cpu=$(cut -d' ' -f2 "$1" | median)
  awk -v p="$PKTS" -v w="$wall" -v c="$cpu" '
    NR == 1 { wf = ws = $1; cf = cs = $2 }
    { if ($1 < wf) wf = $1; if ($1 > ws) ws = $1; if ($2 < cf) cf = $2; if ($2 > cs) cs = $2; if ($3 > rss) rss = $3 }
    END { printf "%.0f %.0f %.0f %.0f %.0f %.0f %.3f %.3f %.0f\n", p / w, p / ws, p / wf, p / c, p / cs, p / cf, w, c, rss / 1024 }' "$1"
}
base_wall=$([[ -e $W/$BASE.t ]] && summary "$W/$BASE.t" | cut -d' ' -f7 || echo 0)
printf '%-26s %9s %19s %9s %19s %7s %6s %7s %9s %6s %s\n' tool 'pkt/s' 'min-max' 'cpu pkt/s' 'min-max' 'wall_s' 'cpu_s' \
  'start_s' 'x sniffer' 'rssMiB' 'flow records'
for t in "${TOOLS[@]}"; do
  if [[ -e $W/$t.na ]]; then
    printf '%-26s n/a: %s\n' "$t" "$(cat "$W/$t.na")"
    continue
  fi
  read -r pps lo hi cpps clo chi wall cpu rss < <(summary "$W/$t.t")
  rel=$(awk -v a="$wall" -v b="$base_wall" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-26s %9s %19s %9s %19s %7s %6s %7s %9s %6s %s\n' "$t" "$pps" "$lo-$hi" "$cpps" "$clo-$chi" "$wall" "$cpu" \
    "$(cat "$W/$t.start")" "$rel" "$rss" "$(cat "$W/$t.flows")"
done
echo "# x sniffer: median wall time / that of $BASE (the default offline path); start_s: one run on $(basename "$PROBE")"
echo "# load average (1 min) before the rounds: $(sort -n "$W/load" | sed -n '1p;$p' | paste -sd- -), now $(cut -d' ' -f1 /proc/loadavg)"
if [[ -n ${OLD:-} && -e $W/sniffer.csv && -e $W/old.csv ]]; then
  cmp -s "$W/sniffer.csv" "$W/old.csv" && echo "# old: $OLD; its CSV is byte for byte $BASE's" ||
    echo "# old: $OLD; its CSV DIFFERS from $BASE's"
fi
