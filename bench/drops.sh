#!/bin/bash
# Kernel drop reasons (issue 18): the cost of the skb:kfree_skb tracepoint program under a flood
# the gateway drops, with drops.enabled on and off, with and without the userspace flow table
# (whose drop records cost the program a ring write and the daemon a lookup), side by side in one
# run (interleaved rounds; PHASES picks some of "on off on_noflows off_noflows").
# The lab (scripts/lab-topology.sh) with an nftables rule on the gateway dropping forwarded UDP to
# port 9; hping3 --flood sends UDP 198.51.100.10 -> 192.0.2.10:9 from the WAN peer for DURATION s.
# Per phase a fresh daemon (config/lab.json's interfaces, no subscriber) and, from its fds:
#   tp_ns/skb  the tracepoint program's run_time_ns / run_cnt (bpf_stats on): ns per freed skb, any
#              skb of the machine (every namespace's: a test suite running meanwhile adds its own)
#   tp_ns/drop its run_time_ns / the drops it counted (an upper bound of the cost of one counted drop)
#   bpf_ns/p   run_time_ns of all the daemon's programs / packets sent
#   user_ms/s  the daemon's utime+stime per second of flood; sys_ms/s the whole machine's CPU
#   pps        WAN peer eth0 tx_packets per second; drops = what the daemon counted (NETFILTER_DROP)
#   sudo bench/drops.sh      BUILD=build DURATION=4 ROUNDS=3
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
P=${PREFIX:-dr$$}
HZ=$(getconf CLK_TCK)

[[ $(id -u) -eq 0 ]] || { echo "drops.sh: run as root (BPF, network namespaces)" >&2; exit 2; }
for tool in nft hping3; do command -v $tool >/dev/null || { echo "drops.sh: $tool missing" >&2; exit 2; }; done
[[ -x $BUILD/sniffer ]] || { echo "drops.sh: $BUILD/sniffer missing (scripts/build.sh)" >&2; exit 2; }

W=$(mktemp -d /tmp/sniffer-drops.XXXX)
"$ROOT/scripts/lab-topology.sh" up "$P" >/dev/null || exit 1
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
  [[ -n ${D:-} ]] && kill -KILL "$D" 2>/dev/null
  sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
  "$ROOT/scripts/lab-topology.sh" down "$P" >/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1
if ! ip netns exec "$P-gw" nft -f - <<'EOF'
table inet bench {
 chain fwd_drop {
  type filter hook forward priority 0;
  udp dport 9 drop
 }
}
EOF
then
  exit 1
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
tx() { ip netns exec "$P-wan" cat /sys/class/net/eth0/statistics/tx_packets; }
# prog_stats PID TYPE: "run_time_ns run_cnt" summed over the daemon's programs of bpf prog_type
# TYPE (5: tracepoint), or all of them (TYPE empty).
prog_stats() {
  awk -v want="$2" 'FNR == 1 {id = ""; type = ""} /^prog_type:/ {type = $2} /^prog_id:/ {id = $2}
       /^run_time_ns:/ && id != "" && (want == "" || type == want) {t[id] = $2}
       /^run_cnt:/ && id != "" && (want == "" || type == want) {c[id] = $2}
       END {s = 0; n = 0; for (i in t) s += t[i]; for (i in c) n += c[i]; print s, n}' "/proc/$1"/fdinfo/* 2>/dev/null
}

# Phases: drops on/off, with the userspace flow table (drop records for it) and without flows
# (counting only: no drop record is sent).
PHASES=${PHASES:-"on off on_noflows off_noflows"}
# lab.json without its comments (a // outside a string), with the phase's drops and flows keys.
cat > "$W/cfg.py" <<'PY'
import json, sys
out, quoted, i, text = [], False, 0, sys.stdin.read()
while i < len(text):
    c = text[i]
    if c == '"' and (i == 0 or text[i - 1] != '\\'):
        quoted = not quoted
    if not quoted and text.startswith("//", i):
        i = text.find("\n", i)
        continue
    out.append(c)
    i += 1
config = json.loads("".join(out))
config["drops"] = {"enabled": sys.argv[1] == "true"}
config["flows"]["enabled"] = sys.argv[2] == "true"
print(json.dumps(config, indent=1))
PY
for phase in $PHASES; do
  enabled=true; [[ $phase = off* ]] && enabled=false
  flows=true; [[ $phase = *_noflows ]] && flows=false
  sed -e "s|\"endpoint\": \"[^\"]*\"|\"endpoint\": \"ipc://$W/s.sock\"|" \
      -e 's|"pin_path": "[^"]*"|"pin_path": ""|' -e 's|"listen": "[^"]*"|"listen": ""|' \
      "$ROOT/config/lab.json" | python3 "$W/cfg.py" "$enabled" "$flows" > "$W/$phase.json" || exit 1
done

phase() {  # phase NAME ROUND
  local name="$1.$2" t0 t1 a0 a1 u0 u1 s0 s1 x0 x1
  rm -f "$W/s.sock"
  ip netns exec "$P-gw" "$BUILD/sniffer" --config "$W/$1.json" > "$W/$name.report" 2> "$W/$name.log" & D=$!
  for _ in $(seq 100); do [[ -S $W/s.sock ]] && break; sleep 0.1; done
  [[ -S $W/s.sock ]] || { echo "drops.sh: $name: no daemon: $(tail -3 "$W/$name.log")" >&2; exit 1; }
  sleep 1
  read -r t0 _ < <(prog_stats "$D" 5); read -r a0 _ < <(prog_stats "$D" "")
  local c0; c0=$(prog_stats "$D" 5 | cut -d' ' -f2)
  u0=$(cpu_ticks "$D"); s0=$(sys_ticks); x0=$(tx)
  ip netns exec "$P-wan" timeout "$DURATION" hping3 --udp -p 9 -d 18 --flood -q 192.0.2.10 > /dev/null 2>&1
  x1=$(tx); s1=$(sys_ticks); u1=$(cpu_ticks "$D")
  read -r t1 c1 < <(prog_stats "$D" 5); read -r a1 _ < <(prog_stats "$D" "")
  kill -TERM "$D"; wait "$D"; D=
  local drops
  drops=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); d=r["kernel"].get("drops");
print(sum(c for i in d["interfaces"].values() for r2 in i.values() for c in r2.values()) if d else 0)' "$W/$name.report")
  echo "$1 $((x1 - x0)) $((t1 - t0)) $((c1 - c0)) $((a1 - a0)) $((u1 - u0)) $((s1 - s0)) $drops" >> "$W/rounds.txt"
}

for r in $(seq "$ROUNDS"); do
  read -r -a order <<< "$PHASES"
  ((r % 2)) || mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)  # every other round reversed: shared noise
  for phase in "${order[@]}"; do phase "$phase" "$r"; done
done

python3 - "$W/rounds.txt" "$DURATION" "$HZ" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
dur, hz = float(sys.argv[2]), int(sys.argv[3])
print(f"{'phase':>11} {'pps':>9} {'tp_ns/skb':>9} {'tp_runs':>9} {'tp_ns/drop':>10} {'bpf_ns/p':>8} {'user_ms/s':>9} "
      f"{'sys_ms/s':>8} {'counted':>9}")
for want in dict.fromkeys(r[0] for r in rows):
    for on, tx, tp_ns, tp_n, all_ns, user, sys_t, drops in [r for r in rows if r[0] == want]:
        tx, tp_ns, tp_n, all_ns, user, sys_t = map(int, (tx, tp_ns, tp_n, all_ns, user, sys_t))
        drops = int(drops)
        print(f"{on:>11} {tx / dur:9.0f} {tp_ns / tp_n if tp_n else 0:9.1f} {tp_n:9d} {tp_ns / drops if drops else 0:10.1f} "
              f"{all_ns / tx if tx else 0:8.1f} "
              f"{user * 1000 / hz / dur:9.1f} {sys_t * 1000 / hz / dur:8.1f} {drops:>9}")
EOF
