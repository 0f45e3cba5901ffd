#!/bin/bash
# Rate sweep in the namespace lab (scripts/lab-topology.sh): a generator in the WAN peer sends
# UDP 198.51.100.10 -> 192.0.2.10 (forwarded by the sensor to the LAN peer) into wan0 at each
# rate for DURATION s. Per rate, four phases back to back on the same traffic:
#   1. same run: a fresh daemon (config/lab.json, own endpoint/pins), a python SUB counting
#      delivered events, and tcpdump -i wan0 -s 128 -w /dev/null side by side;
#   2. baseline: neither tool;  3. sniffer only (no subscriber);  4. tcpdump only;
# 2-4 give system-wide CPU from /proc/stat, so kernel-side costs count for both tools; they are
# repeated SYS_ROUNDS times (default 3, interleaved) and the least CPU per packet of each phase
# is kept: other load on the machine only ever adds.
#   sudo bench/run.sh     RATES="50000 100000 200000 max" DURATION=4 BUILD=bench/build GEN=livegen|trafgen
# GEN: livegen (bench/livegen, BPF_PROG_RUN live frames; the default when built) or trafgen.
# LIVEGEN_THREADS (default 1): livegen's sending threads (more than 1 overflows wan0's single
# veth receive queue here: the drops show as tx_dropped, not in offered).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/bench/build}
RATES=${RATES:-"50000 100000 200000 max"}
DURATION=${DURATION:-4}
LIVEGEN=$BUILD/bench/livegen
if [ -x "$LIVEGEN" ]; then GEN=${GEN:-livegen}; else GEN=${GEN:-trafgen}; fi
LIVEGEN_THREADS=${LIVEGEN_THREADS:-1}
SYS_ROUNDS=${SYS_ROUNDS:-3}
SYS_SETTLE=${SYS_SETTLE:-1}  # phases 2-4: seconds after the send inside the /proc/stat window
P=${PREFIX:-bn$$}
W=$(mktemp -d /tmp/sniffer-bench.XXXX)
[ -x "$BUILD/sniffer" ] || { echo "build first: cmake -S . -B bench/build -DSNIFFER_BUILD_BENCH=ON && cmake --build bench/build" >&2; exit 2; }
case $GEN in
  livegen) [ -x "$LIVEGEN" ] || { echo "GEN=livegen: $LIVEGEN not built (-DSNIFFER_BUILD_BENCH=ON)" >&2; exit 2; } ;;
  trafgen) command -v trafgen >/dev/null || { echo "GEN=trafgen: trafgen not installed (netsniff-ng)" >&2; exit 2; } ;;
  *) echo "GEN must be livegen or trafgen, not $GEN" >&2; exit 2 ;;
esac
"$ROOT/scripts/lab-topology.sh" up "$P" >/dev/null || exit 2
# bpf_stats (run_time_ns of the programs) costs every program run two clock reads: on only here.
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
trap '"$ROOT/scripts/lab-topology.sh" down "$P" >/dev/null 2>&1; rm -rf "$W"; sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
sed -e "s|\"endpoint\": \"[^\"]*\"|\"endpoint\": \"ipc://$W/s.sock\"|" \
    -e "s|\"pin_path\": \"[^\"]*\"|\"pin_path\": \"/sys/fs/bpf/sniffer-$P\"|" \
    -e "s|\"log_level\": \"info\"|\"log_level\": \"warn\"|" "$ROOT/config/lab.json" > "$W/cfg.json"
# trafgen's frame; bench/livegen sends the same bytes (sport cycling 1024..2047, checksums valid).
echo '{ eth(da=02:53:00:64:00:01, sa=02:53:00:64:00:10), ipv4(saddr=198.51.100.10, daddr=192.0.2.10, ttl=64), udp(sp=dinc(1024, 2047, 1), dp=9), fill(0x41, 18) }' > "$W/pkt.cfg"
TCK=$(getconf CLK_TCK)

in_wan() { ip netns exec "$P-wan" "$@"; }
# Background processes are started with ip netns exec directly (not through a function, which
# would fork a subshell): $! is then the process itself (ip execs it), for /proc/PID and kill.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of a process
sys_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }  # user nice system irq softirq, all CPUs
tx() { in_wan cat /sys/class/net/eth0/statistics/tx_packets; }
xdp_ns() { bpftool prog show -j | /usr/bin/python3 -c 'import json,sys; print(sum(p.get("run_time_ns",0) for p in json.load(sys.stdin) if p.get("name","").startswith("sniffer_")))'; }

# send RATE: the generator in the WAN peer, RATE*DURATION frames at RATE pps, or DURATION s at max.
send() {
  local rate=$1
  if [ "$GEN" = livegen ]; then
    if [ "$rate" = max ]; then set -- --rate max --duration "$DURATION"; else set -- --rate "$rate" --count $((rate * DURATION)); fi
    in_wan "$LIVEGEN" --dev eth0 --threads "$LIVEGEN_THREADS" "$@" > "$W/gen.txt" 2>&1
  elif [ "$rate" = max ]; then
    in_wan timeout -s INT "$DURATION" trafgen -q -P 1 --dev eth0 --conf "$W/pkt.cfg" > "$W/gen.txt" 2>&1
  else
    in_wan trafgen -q -P 1 --dev eth0 --conf "$W/pkt.cfg" -b "${rate}pps" -n $((rate * DURATION)) > "$W/gen.txt" 2>&1
  fi
}

# measure RATE SETTLE: send with readings around it: tx0/tx1 (WAN peer eth0 tx_packets), s0/s1
# (send interval), j0/j1 (system-wide CPU ticks, the closing one SETTLE s after the send, so
# that what the tools still had queued is in).
measure() {
  tx0=$(tx); j0=$(sys_ticks); s0=$(date +%s.%N)
  send "$1"
  s1=$(date +%s.%N); tx1=$(tx)
  sleep "$2"
  j1=$(sys_ticks)
}

# start_daemon NAME: the daemon in the gw namespace (D), final report in W/NAME.json; ready when
# its endpoint exists, plus 1 s.
start_daemon() {
  rm -f "$W/s.sock"
  ip netns exec "$P-gw" "$BUILD/sniffer" --config "$W/cfg.json" > "$W/$1.json" 2> "$W/$1.log" &
  D=$!
  for _ in $(seq 50); do [ -S "$W/s.sock" ] && break; sleep 0.1; done
  sleep 1
}
stop_daemon() { kill -TERM "$D"; wait "$D"; }
start_tcpdump() { ip netns exec "$P-gw" tcpdump -i wan0 -s 128 -w /dev/null 2> "$W/$1.txt" & T=$!; }  # NAME
stop_tcpdump() { kill -INT "$T"; wait "$T" 2>/dev/null; }

# A bare XDP_PASS on wan0 while the sensor is not attached (phases 2 and 4): a veth drops XDP
# frames redirected to it (livegen) unless it runs XDP itself, and with it every phase takes the
# same veth XDP receive path (for trafgen too). Needs livegen built; without it, nothing.
start_pass_xdp() {
  PASS=
  [ -x "$LIVEGEN" ] || return 0
  ip netns exec "$P-gw" "$LIVEGEN" --attach-pass wan0 > "$W/pass.txt" 2>&1 & PASS=$!
  for _ in $(seq 50); do grep -q attached "$W/pass.txt" 2>/dev/null && return 0; sleep 0.1; done
  echo "livegen --attach-pass wan0 failed: $(cat "$W/pass.txt")" >&2; exit 1
}
stop_pass_xdp() { [ -z "$PASS" ] || { kill -TERM "$PASS"; wait "$PASS"; }; }

# Phase 1: sniffer + SUB + tcpdump in the same run; its readings as key=value words in $same.
phase_same_run() {
  start_daemon report
  /usr/bin/python3 "$ROOT/bench/sub_count.py" "ipc://$W/s.sock" "$BUILD/proto" "$W/sub.txt" & S=$!
  start_tcpdump tcpdump
  sleep 1
  local x0 d0 t0
  x0=$(xdp_ns); d0=$(cpu_ticks "$D"); t0=$(cpu_ticks "$T")
  measure "$1" 0.5
  same="tx0=$tx0 tx1=$tx1 s0=$s0 s1=$s1 d0=$d0 d1=$(cpu_ticks "$D") t0=$t0 t1=$(cpu_ticks "$T") x0=$x0 x1=$(xdp_ns)"
  same="$same rss=$(awk '/VmHWM/ {print $2}' "/proc/$D/status") claim=$(claimed)"
  sleep 0.5
  stop_tcpdump
  stop_daemon
  kill -TERM "$S"; wait "$S"
}

# phase_sys NAME RATE, NAME base | sn | td (phases 2-4): appends NAME=packets:seconds:ticks to $sys.
phase_sys() {
  local name=$1 rate=$2
  case $name in
    base) start_pass_xdp; sleep 1 ;;
    sn) start_daemon report_sn ;;
    td) start_pass_xdp; start_tcpdump tcpdump_td; sleep 1 ;;
  esac
  measure "$rate" "$SYS_SETTLE"
  case $name in
    base) stop_pass_xdp ;;
    sn) stop_daemon ;;
    td) stop_tcpdump; stop_pass_xdp ;;
  esac
  sys="$sys $name=$((tx1 - tx0)):$(awk "BEGIN {print $s1 - $s0}"):$((j1 - j0))"
}

claimed() {  # livegen's own claim (frames), or - for trafgen
  if [ "$GEN" = livegen ]; then sed -n 's/^livegen: claimed \([0-9]*\) .*/\1/p' "$W/gen.txt"; else echo -; fi
}

if [ "$GEN" = livegen ]; then gdesc="livegen (BPF_PROG_RUN live frames, XDP_TX, $LIVEGEN_THREADS thread)"; else gdesc="trafgen -P 1"; fi
[ -x "$LIVEGEN" ] && pdesc="bare XDP_PASS on wan0" || pdesc="no XDP on wan0"
echo "run.sh: generator $GEN = $gdesc; DURATION=${DURATION}s; /proc/stat phases: best of $SYS_ROUNDS, base/td with $pdesc"
printf "%-7s %9s %9s %9s %9s | %-34s | %8s %8s %8s %6s | %9s %8s %8s | %6s %6s | %6s %8s %8s %6s   gen=%s\n" \
  rate offered kern_seen delivered complete "drops (ringfull/decode/hwm/sub)" us_ns/p xdp_ns/p tot_ns/p rssMiB \
  tcpd_cap tcpd_cpl tcpd_ns/p cpl_x cpu_x base/p sys_sn/p sys_td/p sys_x "$GEN"
for rate in $RATES; do
  phase_same_run "$rate"
  sys=""
  for _ in $(seq "$SYS_ROUNDS"); do
    for phase in base sn td; do phase_sys "$phase" "$rate"; done
  done
  /usr/bin/python3 - "$W" rate="$rate" tck="$TCK" $same $sys <<'PY'
import json, re, sys
w = sys.argv[1]
a, rounds = {}, {"base": [], "sn": [], "td": []}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    if k in rounds: rounds[k].append(tuple(map(float, v.split(":"))))  # packets, seconds, ticks
    else: a[k] = v
n = lambda k: float(a[k])
tx = int(n("tx1") - n("tx0")); secs = n("s1") - n("s0"); tck = n("tck")
rep = json.loads(open(w + "/report.json").read().strip().splitlines()[-1])
kern = rep["kernel"]; us = rep["userspace"]
seen = sum(kern["interfaces"]["wan0"]["packets"]["xdp_ingress"].values())
rf = kern["ringbuf_full"]; recs = kern["records"]
dec = sum(us["decode_errors"].values()); hwm = us["events_dropped_hwm"]; pub = us["events_published"] - us["events_unsubscribed"]
ev, _ = map(int, open(w + "/sub.txt").read().split())
t = open(w + "/tcpdump.txt").read()
cap = int(re.search(r"(\d+) packets captured", t).group(1)); kdrop = int(re.search(r"(\d+) packets dropped by kernel", t).group(1))
usr = (n("d1") - n("d0")) / tck * 1e9 / max(recs, 1)
xd = (n("x1") - n("x0")) / max(recs, 1)
tcpd = (n("t1") - n("t0")) / tck * 1e9 / max(cap, 1)
cpl = ev / tx if tx else 0; tcpl = cap / tx if tx else 0
# phases 2-4: system-wide ns per packet of each round; the least per phase, and above the baseline
nsp = {p: sorted((t / tck * 1e9 / max(pk, 1), pk / s) for pk, s, t in r) for p, r in rounds.items()}
sysp = {p: v[0][0] for p, v in nsp.items()}; pps = {p: v[0][1] for p, v in nsp.items()}
sn, td = sysp["sn"] - sysp["base"], sysp["td"] - sysp["base"]
noisy = " NOISY: other load" if any(v[-1][0] > 1.25 * v[0][0] for v in nsp.values()) else ""
print(f"{a['rate']:<7} {tx/secs:9.0f} {seen:9d} {ev:9d} {cpl:9.4f} | rf={rf} dec={dec} hwm={hwm} sub={pub-ev:<10} | "
      f"{usr:8.0f} {xd:8.0f} {usr+xd:8.0f} {int(a['rss'])/1024:6.1f} | {cap:9d} {tcpl:8.4f} {tcpd:8.0f} | "
      f"{cpl/tcpl if tcpl else 0:6.3f} {(usr+xd)/tcpd if tcpd else 0:6.2f} | "
      f"{sysp['base']:6.0f} {sn:8.0f} {td:8.0f} {sn/td if sn > 0 and td > 0 else float('nan'):6.2f}   "
      f"(sent {tx}, claimed {a['claim']}; tcpdump kernel drops {kdrop}, {secs:.1f}s, records {recs}; "
      f"pps base/sn/td {pps['base']:.0f}/{pps['sn']:.0f}/{pps['td']:.0f}, base/p over rounds {nsp['base'][0][0]:.0f}..{nsp['base'][-1][0]:.0f}{noisy})")
PY
done
echo "offered = WAN peer eth0 tx_packets/s; kern_seen = wan0 xdp_ingress packets (daemon report); delivered = events decoded by a python SUB"
echo "us_ns/p = daemon utime+stime / records; xdp_ns/p = bpf_stats run_time_ns of sniffer_* programs / records; cpl_x = completeness sniffer/tcpdump; cpu_x = sniffer total ns/p / tcpdump user+sys ns/p"
echo "base/p = system-wide CPU ns/packet (/proc/stat user+nice+system+irq+softirq, all CPUs, send + ${SYS_SETTLE}s) with neither tool, least of $SYS_ROUNDS rounds;"
echo "sys_sn/p, sys_td/p = the same with the sniffer only (no subscriber) / tcpdump only, minus base/p; sys_x = sys_sn/p / sys_td/p"
