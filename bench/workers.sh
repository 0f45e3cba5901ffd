#!/bin/bash
# capture.workers 1 against 2 (issue 15, "Workers" in README.md) on the namespace lab
# (scripts/lab-topology.sh) with wan0 as a 2-queue veth (WAN_QUEUES=2: livegen's thread on CPU i
# delivers into receive queue i, whose NAPI runs the programs on CPU i) and livegen on 2 threads
# (GEN_THREADS=2; UDP 198.51.100.10:1024..2047 -> 192.0.2.10:9, 1024 flows, which the flow hash
# spreads over the workers), at each offered rate of RATES. Phases, each a fresh daemon, in an
# order that rotates from one round and rate to the next:
#   base   no sensor: a bare XDP_PASS on wan0 (livegen --attach-pass), the system-wide baseline;
#   pkt1   config/lab.json (userspace aggregation, packet events, 64 B snippets), capture.workers 1;
#   pkt2   the same with capture.workers 2;
#   pkt1big  pkt1 with a 32 MiB ring (the ring memory of pkt2's two): is it the ring or the threads?
#   flow1  kernel flow aggregation, no packet events, capture.workers 1;
#   flow2  the same with capture.workers 2.
# A real subscriber drains what the sensor publishes: SUB=fast (bench/sub_fast, native, the
# default) or SUB=python (bench/sub_flows.py, 1.0-1.6 us per event: it falls behind first); SUB_CPUS
# and DAEMON_CPUS restrict it and the daemon to CPUs (taskset -c; default: any). A phase is lossless
# when every drop counter is 0 (kernel ringbuf_full / flow_ringbuf_full / flow_map_full, the
# publisher's high-water-mark drops), the subscriber saw no gap in either topic's sequence and
# received every event and flow packet, and the counters' identities hold (records = published =
# received). Per phase it also records every daemon thread's CPU, the subscriber's and each CPU's
# idle time. Prints a line per phase, then per configuration and rate the medians over the rounds,
# the highest lossless offered rate and the ratio pkt2 / pkt1 (bench/README.md, "Workers (issue 15)").
#   sudo bench/workers.sh   DURATION=4 ROUNDS=3 RATES="300000 500000 700000 900000 max"
#                           CONFIGS="base pkt1 pkt2 flow1 flow2" BUILD=bench/build SETTLE=1 KEEP=0
#                           SUB=fast SUB_CPUS= DAEMON_CPUS=
#   QUICK=1: 1 s, 1 round, RATES=max
# Exit status: 0 every phase ran (lossless or not: loss at a high rate is a finding); 1 a phase
# failed (daemon, generator, subscriber, missing report); 2 usage.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=workers.sh BENCH_ROUNDS=3 P=${PREFIX:-wk$$}
WAN_QUEUES=${WAN_QUEUES:-2} GEN_THREADS=${GEN_THREADS:-2} SUB=${SUB:-fast}
# shellcheck source=SCRIPTDIR/lib/lab_bench.sh
source "$ROOT/bench/lib/lab_bench.sh"
if ((QUICK)); then RATES=${RATES:-max}; fi
RATES=${RATES:-300000 500000 700000 900000 max}
read -ra CONFIGS <<< "${CONFIGS:-base pkt1 pkt2 flow1 flow2}"
[[ ${CONFIGS[0]} = base ]] || lab_bench_fail "CONFIGS must start with base (the baseline of every rate)"
# The subscriber runs outside the namespaces (the endpoint is an ipc:// file): end it ourselves.
S=
# shellcheck disable=SC2317  # called by the lib's exit trap
bench_on_exit() { [[ -n $S ]] && kill -TERM "$S" 2>/dev/null; }
lab_bench_setup

# worker_config NAME BASE WORKERS [RING_BYTES]: W/BASE.cfg.json with capture.workers WORKERS (and
# capture.ring_buffer_bytes, per worker), as W/NAME.cfg.json (checked in the effective config).
worker_config() {
  local want="$3 ${4:-16777216}"
  "$BUILD/sniffer" --config "$W/$2.cfg.json" --print-config | "$PY" -c '
import json, sys
c = json.load(sys.stdin); c["capture"]["workers"] = int(sys.argv[1])
if len(sys.argv) > 2: c["capture"]["ring_buffer_bytes"] = int(sys.argv[2])
json.dump(c, sys.stdout)' "${@:3}" > "$W/$1.cfg.json" || lab_bench_fail "$1: cannot write its config"
  [[ $("$BUILD/sniffer" --config "$W/$1.cfg.json" --print-config |
       "$PY" -c 'import json, sys; c = json.load(sys.stdin)["capture"]; print(c["workers"], c["ring_buffer_bytes"])') = "$want" ]] ||
    lab_bench_fail "$1: capture.workers and ring_buffer_bytes are not $want in the effective config"
}
make_config packet userspace true 0
make_config flow kernel false 0
worker_config pkt1 packet 1
worker_config pkt1big packet 1 33554432  # 1 worker with the ring memory of 2 (2 x 16 MiB)
worker_config pkt2 packet 2
worker_config flow1 flow 1
worker_config flow2 flow 2
declare -A TOPICS=([pkt1]="pkt,flow" [pkt1big]="pkt,flow" [pkt2]="pkt,flow" [flow1]="flow" [flow2]="flow")

# thread_ticks PID: utime + stime of each of its threads and the ns it waited runnable for a CPU
# (schedstat's run_delay) as TID:COMM:TICKS:WAIT_NS, comma-separated (the daemon's: sniffer (main;
# the worker with 1), sniffer-w0, sniffer-w1, ZMQbg/IO/0, ...).
thread_ticks() {
  local t out=
  for t in /proc/"$1"/task/*; do
    out="$out,${t##*/}:$(tr -d ' ,:' < "$t/comm" 2>/dev/null):$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
    out="$out:$(cut -d' ' -f2 "$t/schedstat" 2>/dev/null)"
  done
  echo "${out#,}"
}
# cpu_idle: idle + iowait ticks of each CPU, comma-separated in CPU order.
cpu_idle() { awk '/^cpu[0-9]/ {printf "%s%d", sep, $5 + $6; sep = ","} END {print ""}' /proc/stat; }

# measure NAME: send_window with, when a daemon runs (D), its ticks (process and each thread),
# its programs' run time and the subscriber's ticks around it, and each CPU's idle ticks; one line
# in W/rounds.txt.
measure() {
  local d0=0 d1=0 b0=0 b1=0 u0=0 u1=0 t0=0 t1=0 i0 i1
  i0=$(cpu_idle)
  if [[ -n ${D:-} ]]; then b0=$(bpf_ns "$D"); d0=$(cpu_ticks "$D"); u0=$(cpu_ticks "$S"); t0=$(thread_ticks "$D"); fi
  send_window "$1"
  if [[ -n ${D:-} ]]; then
    kill -0 "$D" 2>/dev/null || fail "$1: the daemon died during the send: $(tail -5 "$W/$1.log")"
    d1=$(cpu_ticks "$D"); u1=$(cpu_ticks "$S"); b1=$(bpf_ns "$D"); t1=$(thread_ticks "$D")
  fi
  i1=$(cpu_idle)
  echo "$1 $WIN user=$((d1 - d0)) bpf=$((b1 - b0)) sub=$((u1 - u0)) t0=$t0 t1=$t1 idle0=$i0 idle1=$i1 load=$(cut -d' ' -f1 /proc/loadavg)" >> "$W/rounds.txt"
}

# phase CONFIG RATE ROUND
phase() {
  GEN_RATE=$2
  if [[ $1 = base ]]; then base_phase "$1.$2.$3"; else sensor_phase "$1" "$1.$2.$3" "${TOPICS[$1]}"; fi
}

echo "workers.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wan0: $WAN_QUEUES queues; livegen $GEN_THREADS threads, 1024 UDP flows, rates: $RATES; DURATION=${DURATION}s, ROUNDS=$ROUNDS, CPU window = send + ${SETTLE}s"
echo "subscriber: $SUB (CPUs ${SUB_CPUS:-any}); daemon CPUs ${DAEMON_CPUS:-any}"
n=${#CONFIGS[@]} k=0
for r in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    k=$((k + 1))
    for i in $(seq 0 $((n - 1))); do phase "${CONFIGS[$(rotated "$i" "$k" "$n")]}" "$rate" "$r"; done
  done
done
"$PY" "$ROOT/bench/workers_table.py" "$W" "$TCK" "$ROUNDS" "$RATES" "${CONFIGS[*]}"
rc=$?
if cat "$W"/*.log 2>/dev/null | grep -q .; then
  echo "daemon log lines (warn and above), counted over all phases:"
  sed -E 's/^\[[^]]*\] *//' "$W"/*.log | sort | uniq -c | sort -rn | head -20
fi
exit "$rc"
