# shellcheck shell=bash
# Sourced by bench/flowmode.sh, bench/peers.sh and bench/workers.sh: the namespace lab (scripts/lab-topology.sh) with
# livegen at its maximum rate into wan0, and the readings around a send.
#
# The sourcing script sets ROOT, P (the lab's prefix), BENCH (its name, for messages) and
# BENCH_ROUNDS (its default ROUNDS), then calls lab_bench_setup; afterwards W is the work directory,
# PIN the sensor's pin path, TCK the clock ticks per second. Whatever way the script ends, the lab comes down, bpf_stats is
# put back as it was and W is removed (KEEP=1 keeps it); a script with more to end defines
# bench_on_exit, which the exit trap calls first.
# The settings every such script takes from the environment (QUICK=1: a smoke run, 1 s, 1 round).
BUILD=${BUILD:-$ROOT/bench/build}
QUICK=${QUICK:-0}
if ((QUICK)); then DURATION=${DURATION:-1}; ROUNDS=${ROUNDS:-1}; fi
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-$BENCH_ROUNDS}
SETTLE=${SETTLE:-1}  # s after the send still inside the CPU window: what the tools had queued is in
WAN_QUEUES=${WAN_QUEUES:-1}  # wan0's receive queues (wan_queues)
GEN_THREADS=${GEN_THREADS:-1}  # livegen's sending threads, each on its own CPU (send_window)
GEN_RATE=${GEN_RATE:-max}      # livegen's --rate over all threads: max, or packets per second
LIVEGEN=$BUILD/bench/livegen
PY=/usr/bin/python3  # Debian's: has zmq and protobuf

lab_bench_fail() { echo "$BENCH: $*" >&2; exit 2; }

lab_bench_setup() {
  [[ $(id -u) -eq 0 ]] || lab_bench_fail "run as root (BPF, network namespaces)"
  local f
  for f in "$BUILD/sniffer" "$LIVEGEN" "$BUILD/proto/sniffer_pb2.py" $([[ ${SUB:-} = fast ]] && echo "$BUILD/bench/sub_fast"); do
    [[ -e $f ]] || lab_bench_fail "$f missing; build first: cmake -S . -B bench/build -DSNIFFER_BUILD_BENCH=ON -DSNIFFER_BUILD_TESTS=OFF && cmake --build bench/build -j2"
  done
  PIN=/sys/fs/bpf/sniffer-$P  # in the mount namespace of ip netns exec: each daemon has its own
  # shellcheck disable=SC2034  # for the sourcing script
  TCK=$(getconf CLK_TCK)
  W=$(mktemp -d "/tmp/sniffer-$BENCH.XXXX")
  # bpf_stats (run_time_ns of the programs) costs every program run two clock reads (~40-100 ns
  # here): on only here (BPF_STATS=0: off, as a deployed sensor runs), and put back as it was
  # however the script ends.
  STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
  trap lab_bench_cleanup EXIT
  "$ROOT/scripts/lab-topology.sh" up "$P" >/dev/null || exit 1
  ((WAN_QUEUES == 1)) || wan_queues "$WAN_QUEUES"
  sysctl -qw kernel.bpf_stats_enabled="${BPF_STATS:-1}"
}

# wan_queues N: wan0 and the WAN peer's eth0 with N receive and transmit queues each, as a
# multi-queue NIC (a veth is created with up to one per CPU, 1 in use): livegen's thread on CPU i
# then delivers into queue i, whose NAPI runs on CPU i, so the programs run on every CPU at once.
wan_queues() {
  { in_wan ethtool -L eth0 rx "$1" tx "$1" && ip netns exec "$P-gw" ethtool -L wan0 rx "$1" tx "$1"; } ||
    lab_bench_fail "WAN_QUEUES=$1: ethtool -L failed (a veth allows up to $(nproc) queues; kernel >= 5.13)"
}

lab_bench_cleanup() {
  declare -F bench_on_exit >/dev/null && bench_on_exit
  # Going down ends every process still inside the namespaces (daemon, capture tools).
  "$ROOT/scripts/lab-topology.sh" down "$P" >/dev/null 2>&1
  if ((${KEEP:-0})); then echo "kept $W" >&2; else rm -rf "$W"; fi
  sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
}

in_wan() { ip netns exec "$P-wan" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of a process (all its threads)
sys_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }  # user nice system irq softirq, all CPUs
tx() { in_wan cat /sys/class/net/eth0/statistics/tx_packets; }
# bpf_ns PID: run_time_ns (bpf_stats) summed over the process's own programs, the bpf-prog fds it
# holds (/proc/PID/fdinfo shows the same counter as bpftool prog show). Not "every sniffer_*
# program": a test suite running at the same time loads those too, and this bpftool (7.1) shows
# neither tcx attachments nor owner pids; the daemon's pins live in ip netns exec's own mount namespace.
# printf, not print: mawk prints a sum past 2^31 (2.1 s of run time) as 2.2759e+09, which $((...)) refuses.
bpf_ns() {
  awk 'FNR == 1 {id = ""} /^prog_id:/ {id = $2} /^run_time_ns:/ && id != "" {t[id] = $2}
       END {s = 0; for (i in t) s += t[i]; printf "%.0f\n", s}' "/proc/$1"/fdinfo/* 2>/dev/null
}
fail() { echo "$BENCH: $*" >&2; [[ -n ${D:-} ]] && kill -KILL "$D" 2>/dev/null; exit 1; }

# make_config NAME AGGREGATION PACKET_EVENTS SAMPLE: config/lab.json (both NICs, 64 B payload
# snippets, 1024 flows fit its 65,536-entry flow table) with our own endpoint and pins, and the
# flows/publish settings of one configuration, in W/NAME.cfg.json.
make_config() {
  sed -e "s|\"endpoint\": \"[^\"]*\"|\"endpoint\": \"ipc://$W/s.sock\"|" \
      -e "s|\"pin_path\": \"[^\"]*\"|\"pin_path\": \"$PIN\"|" \
      -e "s|\"log_level\": \"info\"|\"log_level\": \"warn\"|" \
      -e "s|\"flows\": {|\"flows\": { \"aggregation\": \"$2\", \"packet_sample_one_in\": $4,|" \
      -e "s|\"packet_events\": true|\"packet_events\": $3|" "$ROOT/config/lab.json" > "$W/$1.cfg.json"
  # The substitutions must all have taken: check the effective config, not the sed.
  "$BUILD/sniffer" --config "$W/$1.cfg.json" --print-config | "$PY" -c '
import json, sys
c = json.load(sys.stdin); agg, ev, n, bench = sys.argv[1:]
ok = (c["flows"]["aggregation"], str(c["publish"]["packet_events"]).lower(), str(c["flows"]["packet_sample_one_in"])) == (agg, ev, n)
ok = ok and c["publish"]["endpoint"].startswith("ipc:///tmp/")
sys.exit(0 if ok else bench + ": config " + json.dumps(c["flows"]) + " is not what was asked")' "$2" "$3" "$4" "$BENCH" || exit 2
}

# Background processes are started with ip netns exec directly (not through a function, which
# would fork a subshell): $! is then the process itself, for /proc/PID and kill.
# start_daemon CONFIG NAME [SNIFFER]: the sensor (default $BUILD/sniffer) in the gw namespace (D),
# final report in W/NAME.json, log (warnings and errors) in W/NAME.log; ready when its endpoint exists.
# DAEMON_CPUS: the CPUs it may run on (taskset -c; default any).
start_daemon() {
  local pin=()
  [[ -n ${DAEMON_CPUS:-} ]] && pin=(taskset -c "$DAEMON_CPUS")
  rm -f "$W/s.sock"
  ip netns exec "$P-gw" "${pin[@]}" "${3:-$BUILD/sniffer}" --config "$W/$1.cfg.json" > "$W/$2.json" 2> "$W/$2.log" &
  D=$!
  for _ in $(seq 100); do [[ -S $W/s.sock ]] && break; kill -0 "$D" 2>/dev/null || break; sleep 0.1; done
  [[ -S $W/s.sock ]] || fail "$2: the daemon did not start: $(tail -5 "$W/$2.log")"
}
# stop_daemon NAME: SIGTERM makes it flush every flow and print its report; a hang or a non-zero
# exit fails the run.
stop_daemon() {
  local rc
  kill -TERM "$D"
  for _ in $(seq 300); do kill -0 "$D" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$D" 2>/dev/null && fail "$1: the daemon did not exit within 30 s of SIGTERM"
  wait "$D"; rc=$?; D=
  ((rc == 0)) || fail "$1: the daemon exited with $rc: $(tail -5 "$W/$1.log")"
}
# A bare XDP_PASS on wan0 while the sensor is not attached: a veth drops the frames livegen
# redirects to it unless it runs XDP itself, and with it every phase takes the same veth XDP
# receive path, so that the difference to the baseline excludes an empty XDP program's cost.
start_pass_xdp() {
  ip netns exec "$P-gw" "$LIVEGEN" --attach-pass wan0 > "$W/pass.txt" 2>&1 & PASS=$!
  for _ in $(seq 50); do grep -q attached "$W/pass.txt" 2>/dev/null && return 0; sleep 0.1; done
  fail "livegen --attach-pass wan0 failed: $(cat "$W/pass.txt")"
}
stop_pass_xdp() { kill -TERM "$PASS"; wait "$PASS"; }

# Phases of flowmode.sh and workers.sh, each calling the sourcing script's `measure NAME` (a send
# with its readings). base_phase NAME: no sensor, the bare XDP_PASS on wan0.
base_phase() { D=; start_pass_xdp; sleep 1; measure "$1"; stop_pass_xdp; }
# start_subscriber OUTFILE TOPICS: the subscriber (S) of sensor_phase, by SUB: python
# (bench/sub_flows.py, the default) or fast (bench/sub_fast, native, the same counts); SUB_CPUS:
# the CPUs it may run on (taskset -c; default any).
start_subscriber() {
  local pin=()
  [[ -n ${SUB_CPUS:-} ]] && pin=(taskset -c "$SUB_CPUS")
  case ${SUB:-python} in
    python) "${pin[@]}" "$PY" "$ROOT/bench/sub_flows.py" "ipc://$W/s.sock" "$BUILD/proto" "$1" "$2" & S=$! ;;
    fast) "${pin[@]}" "$BUILD/bench/sub_fast" "ipc://$W/s.sock" "$1" "$2" & S=$! ;;
    *) fail "SUB=$SUB: python or fast" ;;
  esac
}
# sensor_phase CONFIG NAME TOPICS: a fresh daemon (D) with a real subscriber (S, start_subscriber)
# on TOPICS, counting into W/NAME.sub.json; both end after the send, the subscriber once it has
# drained what the daemon sent last.
sensor_phase() {
  start_daemon "$1" "$2"
  start_subscriber "$W/$2.sub.json" "$3"
  sleep 1
  measure "$2"
  stop_daemon "$2"
  kill -TERM "$S"; wait "$S" || fail "$2: the subscriber failed"
  S=
  [[ -s $W/$2.sub.json ]] || fail "$2: the subscriber wrote nothing"
}

# children_times FILE: user and system CPU of this shell's finished children (bash's `times`,
# second line), into FILE; run in this shell, not in a $(...) subshell, whose children are its own.
# children_ms FILE1 FILE2: the difference, ms.
children_times() { times > "$1"; }
children_ms() {
  awk -F'[ms ]' 'FNR == 2 {t = ($1 * 60 + $2 + $4 * 60 + $5) * 1000; if (NR == FNR) a = t; else b = t}
                 END {printf "%.0f\n", b - a}' "$1" "$2"
}
# ksoftirqd_ticks: utime + stime of the ksoftirqd threads (softirq work deferred out of the
# generator's context).
# shellcheck disable=SC2016  # awk's own $14
ksoftirqd_ticks() { pgrep '^ksoftirqd/' | sed 's|.*|/proc/&/stat|' | xargs awk '{s += $14 + $15} END {print s + 0}'; }

# send_window NAME: livegen at GEN_RATE (default its maximum) on GEN_THREADS threads (default 1)
# from the WAN peer for DURATION s (UDP 198.51.100.10:1024..2047 -> 192.0.2.10:9, 1024 flows,
# forwarded by the gateway to the LAN peer),
# with readings around it. Sets WIN to "tx=... secs=... sys=... gen=... ksirq=... claim=...": WAN
# peer eth0 tx_packets delta, wall clock of the send, system-wide CPU ticks from the start of the
# send until SETTLE s after it, livegen's own CPU (ms), ksoftirqd's ticks over the same window,
# livegen's own claim. The kernel charges softirq work to the task it interrupts (tick accounting,
# no IRQ time accounting here), so livegen's CPU holds what its sends set off on its CPU: the veth,
# the programs on wan0, forwarding, delivery to the LAN peer, AF_PACKET copies for the capture tools.
send_window() {
  local tx0 tx1 s0 s1 j0 j1 k0
  k0=$(ksoftirqd_ticks); children_times "$W/times0"
  tx0=$(tx); j0=$(sys_ticks); s0=$(date +%s.%N)
  ip netns exec "$P-wan" "$LIVEGEN" --dev eth0 --threads "$GEN_THREADS" --rate "$GEN_RATE" --duration "$DURATION" > "$W/gen.txt" 2>&1 ||
    fail "$1: livegen failed: $(cat "$W/gen.txt")"
  s1=$(date +%s.%N); children_times "$W/times1"; tx1=$(tx)
  sleep "$SETTLE"
  j1=$(sys_ticks)
  WIN="tx=$((tx1 - tx0)) secs=$(awk "BEGIN {print $s1 - $s0}") sys=$((j1 - j0)) gen=$(children_ms "$W/times0" "$W/times1") ksirq=$(($(ksoftirqd_ticks) - k0))"
  WIN="$WIN claim=$(sed -n 's/^livegen: claimed \([0-9]*\) .*/\1/p' "$W/gen.txt")"
}

# rotated I ROUND N: the I-th phase of round ROUND among N phases: the order rotates from round to
# round, so that no phase always comes right after the same other one (a phase leaving work behind,
# or periodic load on this shared machine, would then always hit the same one).
rotated() { echo $((($1 + $2 - 1) % $3)); }
