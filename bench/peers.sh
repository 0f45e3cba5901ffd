#!/bin/bash
# The sensor and its peers on the same traffic (issue 15), side by side in one run, on the namespace
# lab (scripts/lab-topology.sh) with livegen at its maximum rate (1 thread, UDP
# 198.51.100.10:1024..2047 -> 192.0.2.10:9, 1024 flows, forwarded by the gateway to the LAN peer).
# Every tool watches wan0 in the gateway namespace, as the sensor does. Per round, one phase per
# tool, each started fresh, back to back, the order rotating from round to round:
#   base       no tool: a bare XDP_PASS on wan0 (livegen --attach-pass), the system-wide baseline;
#   packet     sniffer, config/lab.json as it is (userspace aggregation, packet events, 64 B snippets);
#   flow       sniffer, kernel flow aggregation, no packet events;
#   tcpdump    tcpdump -i wan0 -s 128 -w /dev/null;
#   softflowd  softflowd -i wan0 -v 9 -n 127.0.0.1:9995 (NetFlow v9 to a port nobody listens on);
#   argus      argus -i wan0 -w FILE;
#   pmacctd    pmacctd -i wan0 -P memory (5-tuple aggregates, read with pmacct -s).
# The sensor runs without a subscriber (it still decodes, aggregates, serialises and hands every
# batch to ZeroMQ, which drops it: as tcpdump writes to /dev/null); the other tools run with the
# bare XDP_PASS on wan0 that livegen needs to deliver (bench/README.md, "livegen").
# Prints a line per phase and round, then the table (medians over the rounds); bench/README.md
# ("peers.sh") says what every column means and how each tool's packets are counted.
#   sudo bench/peers.sh        DURATION=4 ROUNDS=6 BUILD=bench/build SETTLE=1 KEEP=0;  QUICK=1: 1 s, 1 round
# TOOLS="base packet tcpdump": only these phases (base is always needed). OLD_SNIFFER=PATH adds the
# phase packet_old: packet events as `packet`, with another build of the sensor (before/after in one run).
# VARIANT_SED='s|"payload_bytes": 64|"payload_bytes": 0|' adds the phase packet_var: `packet`'s
# config with that sed expression applied (checked to have changed it).
# PERF='stat -e cycles,instructions' (perf's arguments): in each sensor phase, `perf ARGS -p DAEMON
# -o W/NAME.perf -- sleep DURATION` beside the send (KEEP=1 keeps W). Every sensor phase also writes
# W/NAME.threads: each thread's name and CPU ticks over the window (utime + stime), e.g. ZeroMQ's.
# BPF_STATS=0 (default): bpf_stats off, as a deployed sensor runs; its two clock reads per program
# run would charge the sensor, and no peer, ~40-100 ns per program run (its XDP program and the
# drops program both run per packet; the baseline's XDP_PASS pays it once). The process column is
# then every tool's own CPU, the sensor's programs being system-wide like tcpdump's AF_PACKET copy.
# BPF_STATS=1: on, and the sensor's process column adds its programs' run_time_ns.
# Exit status: 0 every phase ran; 1 a phase failed (a tool, the generator, a missing count); 2 usage
# or a tool missing.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=peers.sh BENCH_ROUNDS=6 P=${PREFIX:-pr$$}
BPF_STATS=${BPF_STATS:-0}
# shellcheck source=SCRIPTDIR/lib/lab_bench.sh
source "$ROOT/bench/lib/lab_bench.sh"

# The peers are Debian packages (bench/all.sh installs them): say which are missing, all at once.
missing=
for t in tcpdump:tcpdump softflowd:softflowd softflowctl:softflowd argus:argus-server \
         racount:argus-client pmacctd:pmacct pmacct:pmacct; do
  command -v "${t%%:*}" >/dev/null || missing="$missing ${t%%:*} (package ${t#*:})"
done
[[ -z $missing ]] || lab_bench_fail "missing:$missing; install them: apt-get install tcpdump softflowd argus-server argus-client pmacct"
lab_bench_setup
make_config packet userspace true 0
make_config flow kernel false 0
if [[ -n ${VARIANT_SED:-} ]]; then
  sed -e "$VARIANT_SED" "$W/packet.cfg.json" > "$W/packet_var.cfg.json" || lab_bench_fail "VARIANT_SED: sed failed"
  ! cmp -s "$W/packet.cfg.json" "$W/packet_var.cfg.json" || lab_bench_fail "VARIANT_SED changed nothing in the config"
  "$BUILD/sniffer" --config "$W/packet_var.cfg.json" --print-config > /dev/null || lab_bench_fail "VARIANT_SED: config refused"
fi

# wire: the packets that crossed wan0 either way, as the WAN peer's eth0 counts them (sent: the
# generator's, received: what the gateway sent back, the LAN peer's ICMP errors).
# shellcheck disable=SC2016  # awk's own $1
wire() { in_wan awk '{s += $1} END {print s}' /sys/class/net/eth0/statistics/{tx,rx}_packets; }
# tree_ticks PID: utime + stime of PID and its descendants (pmacctd's plugin is a child process).
tree_ticks() {
  local t c
  t=$(cpu_ticks "$1" 2>/dev/null || echo 0)
  for c in $(ps -o pid= --ppid "$1"); do t=$((t + $(tree_ticks "$c"))); done
  echo "$t"
}
# wait_for TEST ARG WHAT: until `test TEST ARG` holds (10 s at most) while the tool (T) runs.
wait_for() {
  for _ in $(seq 100); do test "$1" "$2" && return 0; kill -0 "$T" 2>/dev/null || break; sleep 0.1; done
  fail "$3 did not start: $(tail -3 "$LOG" 2>/dev/null)"
}

# start_tool TOOL: the tool on wan0 in the gateway namespace (T), its output in LOG, ready to count.
# Started with ip netns exec directly, not through a function (a background function is a subshell:
# $! would be the subshell, which ignores SIGINT), so that T is the tool itself, for signals and /proc.
start_tool() {
  case $1 in
    tcpdump)
      ip netns exec "$P-gw" tcpdump -i wan0 -s 128 -w /dev/null 2> "$LOG" & T=$!
      wait_for -s "$LOG" tcpdump ;;  # "listening on wan0..."
    softflowd)
      rm -f "$W/sfd.ctl"
      ip netns exec "$P-gw" softflowd -d -i wan0 -v 9 -m 65536 -n 127.0.0.1:9995 -c "$W/sfd.ctl" -p "$W/sfd.pid" \
        > "$LOG" 2>&1 & T=$!
      wait_for -S "$W/sfd.ctl" softflowd ;;
    argus)
      # -X: no /etc/argus.conf; -P 0: no remote access port
      rm -f "$W/argus.out"
      ip netns exec "$P-gw" argus -X -P 0 -i wan0 -w "$W/argus.out" > "$LOG" 2>&1 & T=$!
      wait_for -e "$W/argus.out" argus ;;
    pmacctd)
      rm -f "$W/pm.pipe"
      ip netns exec "$P-gw" pmacctd -i wan0 -P memory -c src_host,dst_host,src_port,dst_port,proto -p "$W/pm.pipe" \
        -F "$W/pm.pid" > "$LOG" 2>&1 & T=$!
      wait_for -S "$W/pm.pipe" pmacctd ;;
  esac
}

# query_tool TOOL: softflowd's and pmacctd's statistics live in the process: read into W.
query_tool() {
  case $1 in
    softflowd) softflowctl -c "$W/sfd.ctl" statistics > "${LOG%.log}.sfd" || fail "softflowctl statistics failed" ;;
    pmacctd) pmacct -p "$W/pm.pipe" -s -O csv > "${LOG%.log}.csv" || fail "pmacct -s failed" ;;
  esac
}

# stop_tool TOOL: ends it, and keeps its own statistics in W. softflowd's and pmacctd's are read
# before, once their count stops growing (pmacctd's memory plugin may still be working through
# its queue from the core process; the CPU window has closed by then, so waiting costs nothing).
stop_tool() {
  local n0 n1
  if [[ $1 = softflowd || $1 = pmacctd ]]; then
    query_tool "$1"; n1=$(count_tool "$1") || exit 1
    for _ in $(seq 20); do
      sleep 0.5; n0=$n1
      query_tool "$1"; n1=$(count_tool "$1") || exit 1
      [[ $n1 = "$n0" ]] && break
    done
  fi
  # SIGINT: tcpdump prints its counts, pmacctd ends its plugin (it ignores SIGTERM); softflowd checks
  # for a signal only when a packet or its control socket wakes it: shut it down through the socket.
  if [[ $1 = softflowd ]]; then softflowctl -c "$W/sfd.ctl" shutdown >/dev/null; else kill -INT "$T"; fi
  for _ in $(seq 100); do kill -0 "$T" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$T" 2>/dev/null && fail "$1 did not exit within 10 s of being asked"
  wait "$T" 2>/dev/null; RC=$?  # argus 3.0.8 sometimes dies of SIGSEGV on its way out: noted
  [[ $1 = argus ]] && racount -r "$W/argus.out" > "${LOG%.log}.racount" 2>&1
}

# count_tool TOOL: the packets the tool accounted for, from what stop_tool kept.
count_tool() {
  case $1 in
    tcpdump)
      sed -n 's/^\([0-9]*\) packets captured$/\1/p' "$LOG" | grep . ||
        fail "tcpdump: no \"packets captured\": $(cat "$LOG")" ;;
    softflowd)  # every packet it took in, less those it ignored (non-IP, too short)
      awk '/^Packets processed:/ {p = $3} /^Ignored packets:/ {i = $3} END {if (p == "") exit 1; print p - i}' \
        "${LOG%.log}.sfd" || fail "softflowctl statistics: no packet count: $(head -5 "${LOG%.log}.sfd")" ;;
    argus)  # racount: one "sum" line, its third field total_pkts (src + dst packets of every record)
      awk '$1 == "sum" {print $3; f = 1} END {exit !f}' "${LOG%.log}.racount" ||
        fail "racount: no sum line: $(cat "${LOG%.log}.racount")" ;;
    pmacctd)  # the PACKETS of every aggregate in the memory table
      "$PY" -c 'import csv, sys
print(sum(int(r["PACKETS"]) for r in csv.DictReader(open(sys.argv[1]))))' "${LOG%.log}.csv" ||
        fail "pmacct -s: no PACKETS column: $(head -3 "${LOG%.log}.csv")" ;;
  esac
}

# thread_ticks PID: "TID NAME TICKS" per thread of PID.
thread_ticks() {
  local t
  for t in /proc/"$1"/task/*; do
    echo "${t##*/} $(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"
  done 2>/dev/null
}

# phase TOOL ROUND: appends one line "TOOL.ROUND key=value..." to W/rounds.txt: the send window
# (send_window), the tool's processes' ticks (user), its BPF programs' run time (bpf, sniffer
# only), the packets it accounted for (count; the sensor's come from its report, read later), the
# packets that crossed wan0 from the tool's start to the end of the window (wire), its exit status (rc).
phase() {
  local tool=$1 name="$1.$2" u0 u1 b0=0 b1=0 count=- w0 w1
  D='' T='' RC=0 LOG=$W/$1.$2.log
  case $tool in
    packet|flow) start_daemon "$tool" "$name"; T=$D; b0=$(bpf_ns "$D") ;;
    packet_old) start_daemon packet "$name" "$OLD_SNIFFER"; T=$D; b0=$(bpf_ns "$D") ;;
    packet_var) start_daemon packet_var "$name"; T=$D; b0=$(bpf_ns "$D") ;;
    base) start_pass_xdp ;;
    # Attaching XDP to wan0 makes the gateway send two IPv6 MLD reports on it within ~1.5 s: let
    # them pass before the tool starts, or it may count one that the wire count below missed.
    *) start_pass_xdp; sleep 2; start_tool "$tool" ;;
  esac
  w0=$(wire)  # from here on the tool counts (not the XDP attach and detach around it)
  sleep 1
  [[ -n $T ]] && u0=$(tree_ticks "$T")
  local perf=
  if [[ -n $D ]]; then
    thread_ticks "$D" > "$W/$name.threads0"
    if [[ -n ${PERF:-} ]]; then
      local args
      read -r -a args <<< "$PERF"
      perf "${args[@]}" -p "$D" -o "$W/$name.perf" -- sleep "$DURATION" > /dev/null 2>&1 & perf=$!
    fi
  fi
  send_window "$name"
  w1=$(wire)
  [[ -n $perf ]] && wait "$perf"
  # shellcheck disable=SC2016  # awk's own $1
  [[ -n $D ]] && thread_ticks "$D" | awk 'NR == FNR {t[$1] = $3; next} {print $1, $2, $3 - t[$1]}' \
    "$W/$name.threads0" - > "$W/$name.threads"
  if [[ -n $T ]]; then
    kill -0 "$T" 2>/dev/null || fail "$name: $tool died during the send: $(tail -5 "$LOG")"
    u1=$(tree_ticks "$T")
    [[ -n $D ]] && b1=$(bpf_ns "$D")
  fi
  case $tool in
    packet*|flow) stop_daemon "$name" ;;
    base) ;;
    *) stop_tool "$tool"; count=$(count_tool "$tool") || exit 1 ;;
  esac
  [[ $tool = packet* || $tool = flow ]] || stop_pass_xdp
  echo "$name $WIN user=$((${u1:-0} - ${u0:-0})) bpf=$((b1 - b0)) count=$count wire=$((w1 - w0)) rc=$RC" >> "$W/rounds.txt"
}

read -r -a TOOLS <<< "${TOOLS:-base packet flow tcpdump softflowd argus pmacctd}"
[[ " ${TOOLS[*]} " = *" base "* ]] || lab_bench_fail "TOOLS must include base (the baseline of every round)"
if [[ -n ${OLD_SNIFFER:-} ]]; then
  [[ -x $OLD_SNIFFER ]] || lab_bench_fail "OLD_SNIFFER=$OLD_SNIFFER is not an executable"
  TOOLS+=(packet_old)
fi
[[ -n ${VARIANT_SED:-} ]] && TOOLS+=(packet_var)
echo "peers.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "livegen --rate max, 1 thread, 1024 UDP flows; DURATION=${DURATION}s, ROUNDS=$ROUNDS (phase order rotates), CPU window = send + ${SETTLE}s"
echo "bpf_stats $( ((BPF_STATS)) && echo "on (BPF_STATS=1): the sensor's process column adds its programs' run time" || echo "off (BPF_STATS=0): process = each tool's own CPU")"
echo "versions: $(dpkg-query -W -f '${Package} ${Version}, ' tcpdump softflowd argus-server pmacct 2>/dev/null)"
for r in $(seq "$ROUNDS"); do
  for i in "${!TOOLS[@]}"; do phase "${TOOLS[$(rotated "$i" "$r" ${#TOOLS[@]})]}" "$r"; done
done
echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$ROOT/bench/peers_table.py" "$W" "$TCK" "$ROUNDS"
rc=$?
# What the tools and the daemon complained about: worth a look even when the figures are fine.
# (pmacctd's INFO lines list its build flags, -Werror=... among them.)
if grep -i -E 'warn|error|fail' "$W"/*.log | grep -q -v 'INFO ('; then
  echo "log lines with warn, error or fail, counted over all phases and rounds:"
  grep -i -E 'warn|error|fail' "$W"/*.log | grep -v 'INFO (' | sed -E 's|^.*/([a-z]+)\.[0-9]+\.log:|\1: |; s/^([a-z]+: )\[[^]]*\] */\1/' |
    sort | uniq -c | sort -rn | head -10
fi
exit "$rc"
