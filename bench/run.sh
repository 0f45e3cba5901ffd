#!/bin/bash
# Rate sweep in the namespace lab (scripts/lab-topology.sh): trafgen in the WAN peer sends
# UDP 198.51.100.10 -> 192.0.2.10 (forwarded by the sensor to the LAN peer) into wan0 at each
# rate for DURATION s. For each rate a fresh daemon (config/lab.json, own endpoint/pins), a
# python SUB counting delivered events, and tcpdump -i wan0 -s 128 -w /dev/null side by side.
#   sudo bench/run.sh            RATES="50000 100000 200000 max" DURATION=4 BUILD=bench/build
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/bench/build}
RATES=${RATES:-"50000 100000 200000 max"}
DURATION=${DURATION:-4}
P=${PREFIX:-bn$$}
W=$(mktemp -d /tmp/sniffer-bench.XXXX)
[ -x "$BUILD/sniffer" ] || { echo "build first: cmake -S . -B bench/build -DSNIFFER_BUILD_BENCH=ON && cmake --build bench/build" >&2; exit 2; }
"$ROOT/scripts/lab-topology.sh" up "$P" >/dev/null || exit 2
trap '"$ROOT/scripts/lab-topology.sh" down "$P" >/dev/null 2>&1; rm -rf "$W"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
sed -e "s|\"endpoint\": \"[^\"]*\"|\"endpoint\": \"ipc://$W/s.sock\"|" \
    -e "s|\"pin_path\": \"[^\"]*\"|\"pin_path\": \"/sys/fs/bpf/sniffer-$P\"|" \
    -e "s|\"log_level\": \"info\"|\"log_level\": \"warn\"|" "$ROOT/config/lab.json" > "$W/cfg.json"
echo '{ eth(da=02:53:00:64:00:01, sa=02:53:00:64:00:10), ipv4(saddr=198.51.100.10, daddr=192.0.2.10, ttl=64), udp(sp=dinc(1024, 2047, 1), dp=9), fill(0x41, 18) }' > "$W/pkt.cfg"
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tx() { ip netns exec "$P-wan" cat /sys/class/net/eth0/statistics/tx_packets; }
xdp_ns() { bpftool prog show -j | python3 -c 'import json,sys; print(sum(p.get("run_time_ns",0) for p in json.load(sys.stdin) if p.get("name","").startswith("sniffer_")))'; }

printf "%-7s %9s %9s %9s %9s | %-34s | %8s %8s %8s %6s | %9s %8s %8s | %6s %6s\n" \
  rate offered kern_seen delivered complete "drops (ringfull/decode/hwm/sub)" us_ns/p xdp_ns/p tot_ns/p rssMiB \
  tcpd_cap tcpd_cpl tcpd_ns/p cpl_x cpu_x
for rate in $RATES; do
  ip netns exec "$P-gw" "$BUILD/sniffer" --config "$W/cfg.json" > "$W/report.json" 2> "$W/daemon.log" &
  D=$!
  for _ in $(seq 50); do [ -S "$W/s.sock" ] && break; sleep 0.1; done; sleep 1
  /usr/bin/python3 "$ROOT/bench/sub_count.py" "ipc://$W/s.sock" "$BUILD/proto" "$W/sub.txt" & S=$!
  ip netns exec "$P-gw" tcpdump -i wan0 -s 128 -w /dev/null 2> "$W/tcpdump.txt" & T=$!
  sleep 1
  x0=$(xdp_ns); d0=$(cpu_ticks $D); t0=$(cpu_ticks $T); tx0=$(tx); s0=$(date +%s.%N)
  if [ "$rate" = max ]; then
    ip netns exec "$P-wan" timeout -s INT "$DURATION" trafgen -q -P 1 --dev eth0 --conf "$W/pkt.cfg" >/dev/null 2>&1
  else
    ip netns exec "$P-wan" trafgen -q -P 1 --dev eth0 --conf "$W/pkt.cfg" -b "${rate}pps" -n $((rate * DURATION)) >/dev/null 2>&1
  fi
  s1=$(date +%s.%N); tx1=$(tx); sleep 0.5
  d1=$(cpu_ticks $D); t1=$(cpu_ticks $T); x1=$(xdp_ns)
  rss=$(awk '/VmHWM/ {print $2}' /proc/$D/status)
  sleep 0.5
  kill -INT $T; wait $T 2>/dev/null
  kill -TERM $D; wait $D
  kill -TERM $S; wait $S
  python3 - "$rate" "$W" "$tx0" "$tx1" "$s0" "$s1" "$d0" "$d1" "$t0" "$t1" "$x0" "$x1" "$rss" "$TCK" <<'PY'
import json, re, sys
rate, w, tx0, tx1, s0, s1, d0, d1, t0, t1, x0, x1, rss, tck = sys.argv[1:]
tx = int(tx1) - int(tx0); secs = float(s1) - float(s0)
rep = json.loads(open(w + "/report.json").read().strip().splitlines()[-1])
def find(d, key):  # first value of key anywhere in the report
    if isinstance(d, dict):
        if key in d: return d[key]
        for v in d.values():
            r = find(v, key)
            if r is not None: return r
    return None
kern = rep["kernel"]; us = rep["userspace"]
seen = sum(kern["interfaces"]["wan0"]["packets"]["xdp_ingress"].values())
rf = kern["ringbuf_full"]; recs = kern["records"]
dec = sum(us["decode_errors"].values()); hwm = us["events_dropped_hwm"]; pub = us["events_published"] - us["events_unsubscribed"]
ev, _ = map(int, open(w + "/sub.txt").read().split())
t = open(w + "/tcpdump.txt").read()
cap = int(re.search(r"(\d+) packets captured", t).group(1)); kdrop = int(re.search(r"(\d+) packets dropped by kernel", t).group(1))
tck = int(tck)
usr = (int(d1) - int(d0)) / tck * 1e9 / max(recs, 1)
xd = (int(x1) - int(x0)) / max(recs, 1)
tcpd = (int(t1) - int(t0)) / tck * 1e9 / max(cap, 1)
cpl = ev / tx if tx else 0; tcpl = cap / tx if tx else 0
print(f"{rate:<7} {tx/secs:9.0f} {seen:9d} {ev:9d} {cpl:9.4f} | rf={rf} dec={dec} hwm={hwm} sub={pub-ev:<10} | "
      f"{usr:8.0f} {xd:8.0f} {usr+xd:8.0f} {int(rss)/1024:6.1f} | {cap:9d} {tcpl:8.4f} {tcpd:8.0f} | "
      f"{cpl/tcpl if tcpl else 0:6.3f} {(usr+xd)/tcpd if tcpd else 0:6.2f}   (tcpdump kernel drops {kdrop}, {secs:.1f}s, records {recs})")
PY
  rm -f "$W/s.sock"
done
echo "offered = WAN peer eth0 tx_packets/s; kern_seen = wan0 xdp_ingress packets (daemon report); delivered = events decoded by a python SUB"
echo "us_ns/p = daemon utime+stime / records; xdp_ns/p = bpf_stats run_time_ns of sniffer_* programs / records; cpl_x = completeness sniffer/tcpdump; cpu_x = sniffer total ns/p / tcpdump user+sys ns/p"
