#!/bin/bash
# Kernel flow aggregation (issue 8) against packet-event mode, side by side in one run, on the
# namespace lab (scripts/lab-topology.sh) with livegen at its maximum rate (1 thread, UDP
# 198.51.100.10:1024..2047 -> 192.0.2.10:9, 1024 flows, forwarded by the sensor to the LAN peer).
# Per round, one phase per configuration, back to back (interleaved, so that they share the noise;
# the order rotates from round to round):
#   base        no sensor: a bare XDP_PASS on wan0 (livegen --attach-pass, as run.sh's phase 2),
#               the system-wide baseline;
#   packet      config/lab.json as it is: aggregation userspace, packet events on; a SUB drains
#               the pkt and flow topics;
#   flow        aggregation kernel, publish.packet_events false (no packet records); SUB on flow;
#   flow+1/100  aggregation kernel, packet events on, packet_sample_one_in 100; SUB on both.
# Every sensor phase starts a fresh daemon (so each final report covers one phase) and checks
# that no packet went missing from the flow accounting (bench/README.md, "flowmode.sh").
#   sudo bench/flowmode.sh        DURATION=4 ROUNDS=3 BUILD=bench/build SETTLE=1 KEEP=0;  QUICK=1: 1 s, 1 round
# Exit status: 0 all phases ran (whatever the ratio); 1 a phase failed (daemon, generator,
# subscriber, missing report); 3 every phase ran but some flow accounting was lost; 2 usage.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/bench/build}
QUICK=${QUICK:-0}
if ((QUICK)); then DURATION=${DURATION:-1}; ROUNDS=${ROUNDS:-1}; fi
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-1}  # s after the send still inside the CPU window: what the daemon had queued is in
LIVEGEN=$BUILD/bench/livegen
PY=/usr/bin/python3  # Debian's: has zmq and protobuf
P=${PREFIX:-fm$$}
PIN=/sys/fs/bpf/sniffer-$P  # in the mount namespace of ip netns exec: each daemon has its own

[[ $(id -u) -eq 0 ]] || { echo "flowmode.sh: run as root (BPF, network namespaces)" >&2; exit 2; }
for f in "$BUILD/sniffer" "$LIVEGEN" "$BUILD/proto/sniffer_pb2.py"; do
  [[ -e $f ]] || { echo "flowmode.sh: $f missing; build first: cmake -S . -B bench/build -DSNIFFER_BUILD_BENCH=ON -DSNIFFER_BUILD_TESTS=OFF && cmake --build bench/build -j2" >&2; exit 2; }
done

W=$(mktemp -d /tmp/sniffer-flowmode.XXXX)
"$ROOT/scripts/lab-topology.sh" up "$P" >/dev/null || exit 1
# bpf_stats (run_time_ns of the programs) costs every program run two clock reads: on only here,
# and put back as it was however the script ends.
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
# The subscriber runs outside the namespaces (the endpoint is an ipc:// file): end it ourselves.
S=
# KEEP=1 keeps W (configs, reports, logs, subscriber counts) for a closer look.
trap '[[ -n $S ]] && kill -TERM "$S" 2>/dev/null; "$ROOT/scripts/lab-topology.sh" down "$P" >/dev/null 2>&1; ((${KEEP:-0})) && echo "kept $W" >&2 || rm -rf "$W"; sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
TCK=$(getconf CLK_TCK)

# make_config NAME AGGREGATION PACKET_EVENTS SAMPLE: config/lab.json (the sensor as run.sh runs it:
# both NICs, 64 B payload snippets, 1024 flows fit its 65,536-entry flow table) with our own
# endpoint and pins, and the flows/publish settings of one configuration.
make_config() {
  sed -e "s|\"endpoint\": \"[^\"]*\"|\"endpoint\": \"ipc://$W/s.sock\"|" \
      -e "s|\"pin_path\": \"[^\"]*\"|\"pin_path\": \"$PIN\"|" \
      -e "s|\"log_level\": \"info\"|\"log_level\": \"warn\"|" \
      -e "s|\"flows\": {|\"flows\": { \"aggregation\": \"$2\", \"packet_sample_one_in\": $4,|" \
      -e "s|\"packet_events\": true|\"packet_events\": $3|" "$ROOT/config/lab.json" > "$W/$1.cfg.json"
  # The substitutions must all have taken: check the effective config, not the sed.
  "$BUILD/sniffer" --config "$W/$1.cfg.json" --print-config | "$PY" -c '
import json, sys
c = json.load(sys.stdin); agg, ev, n = sys.argv[1:]
ok = (c["flows"]["aggregation"], str(c["publish"]["packet_events"]).lower(), str(c["flows"]["packet_sample_one_in"])) == (agg, ev, n)
ok = ok and c["publish"]["endpoint"].startswith("ipc:///tmp/")
sys.exit(0 if ok else "flowmode.sh: config " + json.dumps(c["flows"]) + " is not what was asked")' "$2" "$3" "$4" || exit 2
}
make_config packet userspace true 0
make_config flow kernel false 0
make_config flow100 kernel true 100
# the subscriber's topics per configuration (flow100 is "flow+1/100" in the table)
declare -A TOPICS=([packet]="pkt,flow" [flow]="flow" [flow100]="pkt,flow")

in_wan() { ip netns exec "$P-wan" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of a process (all its threads)
sys_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }  # user nice system irq softirq, all CPUs
tx() { in_wan cat /sys/class/net/eth0/statistics/tx_packets; }
# bpf_ns: run_time_ns (bpf_stats) summed over the daemon's own programs, the bpf-prog fds it holds
# (/proc/PID/fdinfo shows the same counter as bpftool prog show). Not "every sniffer_* program":
# a test suite running at the same time loads those too, and this bpftool (7.1) shows neither
# tcx attachments nor owner pids; the daemon's pins live in ip netns exec's own mount namespace.
bpf_ns() {
  awk 'FNR == 1 {id = ""} /^prog_id:/ {id = $2} /^run_time_ns:/ && id != "" {t[id] = $2}
       END {s = 0; for (i in t) s += t[i]; print s}' "/proc/$1"/fdinfo/* 2>/dev/null
}
fail() { echo "flowmode.sh: $*" >&2; [[ -n ${D:-} ]] && kill -KILL "$D" 2>/dev/null; exit 1; }

# Background processes are started with ip netns exec directly (not through a function, which
# would fork a subshell): $! is then the process itself, for /proc/PID and kill.
# start_daemon CONFIG NAME: final report in W/NAME.json, log (warnings and errors) in W/NAME.log;
# ready when its endpoint exists (phase() then gives the subscriber 1 s to connect: ZeroMQ drops
# what is published before).
start_daemon() {
  rm -f "$W/s.sock"
  ip netns exec "$P-gw" "$BUILD/sniffer" --config "$W/$1.cfg.json" > "$W/$2.json" 2> "$W/$2.log" &
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
start_pass_xdp() {
  ip netns exec "$P-gw" "$LIVEGEN" --attach-pass wan0 > "$W/pass.txt" 2>&1 & PASS=$!
  for _ in $(seq 50); do grep -q attached "$W/pass.txt" 2>/dev/null && return 0; sleep 0.1; done
  fail "livegen --attach-pass wan0 failed: $(cat "$W/pass.txt")"
}
stop_pass_xdp() { kill -TERM "$PASS"; wait "$PASS"; }

# measure NAME: the send with readings around it: tx (WAN peer eth0 tx_packets), wall clock of
# the send, system-wide CPU ticks; with a daemon (D set) also its ticks, its programs' run time
# and the subscriber's ticks. The window closes SETTLE s after the send. Appends one line
# "NAME key=value..." to W/rounds.txt.
measure() {
  local name=$1 tx0 tx1 s0 s1 j0 j1 d0=0 d1=0 b0=0 b1=0 u0=0 u1=0
  if [[ -n ${D:-} ]]; then b0=$(bpf_ns "$D"); d0=$(cpu_ticks "$D"); u0=$(cpu_ticks "$S"); fi
  tx0=$(tx); j0=$(sys_ticks); s0=$(date +%s.%N)
  in_wan "$LIVEGEN" --dev eth0 --threads 1 --rate max --duration "$DURATION" > "$W/gen.txt" 2>&1 ||
    fail "$name: livegen failed: $(cat "$W/gen.txt")"
  s1=$(date +%s.%N); tx1=$(tx)
  sleep "$SETTLE"
  j1=$(sys_ticks)
  if [[ -n ${D:-} ]]; then
    kill -0 "$D" 2>/dev/null || fail "$name: the daemon died during the send: $(tail -5 "$W/$name.log")"
    d1=$(cpu_ticks "$D"); u1=$(cpu_ticks "$S"); b1=$(bpf_ns "$D")
  fi
  echo "$name tx=$((tx1 - tx0)) secs=$(awk "BEGIN {print $s1 - $s0}") sys=$((j1 - j0)) user=$((d1 - d0))" \
       "bpf=$((b1 - b0)) sub=$((u1 - u0)) claim=$(sed -n 's/^livegen: claimed \([0-9]*\) .*/\1/p' "$W/gen.txt")" >> "$W/rounds.txt"
}

# phase CONFIG ROUND
phase() {
  local cfg=$1 name="$1.$2"
  D=
  if [[ $cfg = base ]]; then
    start_pass_xdp; sleep 1
    measure "$name"
    stop_pass_xdp
    return
  fi
  start_daemon "$cfg" "$name"
  "$PY" "$ROOT/bench/sub_flows.py" "ipc://$W/s.sock" "$BUILD/proto" "$W/$name.sub.json" "${TOPICS[$cfg]}" & S=$!
  sleep 1
  measure "$name"
  stop_daemon "$name"
  kill -TERM "$S"; wait "$S" || fail "$name: the subscriber failed"
  S=
  [[ -s $W/$name.sub.json ]] || fail "$name: the subscriber wrote nothing"
}

echo "flowmode.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "livegen --rate max, 1 thread, 1024 UDP flows; DURATION=${DURATION}s, ROUNDS=$ROUNDS (phase order rotates), CPU window = send + ${SETTLE}s; config/lab.json (64 B snippets)"
# Each round runs the four phases in a rotated order: no configuration always comes right after
# the same other one (a phase leaving work behind, or periodic load on this shared machine, would
# then always hit the same one).
CONFIGS=(base packet flow flow100)
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2 3; do phase "${CONFIGS[(i + r - 1) % 4]}" "$r"; done
done

"$PY" - "$W" "$TCK" "$ROUNDS" <<'PY'
import json, statistics, sys
w, tck, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
label = {"base": "base", "packet": "packet", "flow": "flow", "flow100": "flow+1/100"}
runs = {}
for line in open(w + "/rounds.txt"):
    name, *kv = line.split()
    runs[name] = {k: v for k, v in (x.split("=", 1) for x in kv)}

def report(name):
    return json.loads(open(f"{w}/{name}.json").read().strip().splitlines()[-1])

def check(cfg, rep, sub):
    """Flow accounting of one phase: a list of what went missing (empty: none)."""
    k, f = rep["kernel"], rep["userspace"]["flows"]
    pk = sum(n for hook in k["packets"].values() for n in hook.values())
    bad = []
    if cfg == "packet":
        # Userspace aggregation: the table counts what the ring delivered; a full ring is loss.
        if k["ringbuf_full"]: bad.append(f"ringbuf_full={k['ringbuf_full']}")
        if sub["flow_packets"] != f["packets"]:
            bad.append(f"sub flow packets {sub['flow_packets']} != userspace.flows.packets {f['packets']}")
    else:
        # Every packet counted at a hook is a flow packet, or skipped (non-IP, or a forwarded copy at
        # TC egress: flow_skipped counts both), or withheld before the flow code (filter, block).
        want = pk - k["flow_skipped"] - k["filtered"] - k["blocked_unrecorded"]
        if k["flow_packets"] != want: bad.append(f"flow_packets {k['flow_packets']} != {want} counted at the hooks")
        if f["aggregation"] != "kernel": bad.append("aggregation " + f["aggregation"])
        for c in ("flow_ringbuf_full", "flow_map_full"):
            if k[c]: bad.append(f"{c}={k[c]}")
        if f["sweep_failures"]: bad.append(f"sweep_failures={f['sweep_failures']}")
        if sub["flow_packets"] != k["flow_packets"]:
            bad.append(f"sub flow packets {sub['flow_packets']} != kernel flow_packets {k['flow_packets']}")
    p = f["publish"]
    if p["dropped_hwm"] or p["published"] - p["unsubscribed"] != sub["flow_records"]:
        bad.append(f"flow records published {p['published'] - p['unsubscribed']} (hwm drops {p['dropped_hwm']}), "
                   f"received {sub['flow_records']}")
    if sub["duplicate_finals"]: bad.append(f"{sub['duplicate_finals']} flows with two final records")
    return bad

rows, losses = {c: [] for c in label}, []
print(f"{'config':<11} {'rd':>2} {'offered':>8} {'claimed':>8} {'pps':>7} {'seen':>8} {'seen/off':>8} | {'user':>5} {'bpf':>5} {'cpu':>5} "
      f"{'sub':>5} | {'sys':>5} {'sys-base':>8} | {'pkt_rec':>8} {'events':>8} {'rf':>3} | {'flow_pk':>8} {'flows':>5} "
      f"{'sub_flow_pk':>11}  loss")
for r in range(1, rounds + 1):
    base = runs[f"base.{r}"]
    for cfg in label:
        a = runs[f"{cfg}.{r}"]
        tx, secs = int(a["tx"]), float(a["secs"])
        sysp = int(a["sys"]) / tck * 1e9 / max(tx, 1)
        basep = int(base["sys"]) / tck * 1e9 / max(int(base["tx"]), 1)
        row = {"tx": tx, "pps": tx / secs, "sys": sysp, "sysx": sysp - basep}
        if cfg == "base":
            rows[cfg].append(row)
            print(f"{label[cfg]:<11} {r:>2} {tx:>8} {a['claim']:>8} {tx / secs:>7.0f} {'-':>8} {'-':>8} | {'':>5} {'':>5} "
                  f"{'':>5} {'':>5} | {sysp:>5.0f} {'':>8} |")
            continue
        rep, sub = report(f"{cfg}.{r}"), json.load(open(f"{w}/{cfg}.{r}.sub.json"))
        k = rep["kernel"]
        seen = sum(k["packets"]["xdp_ingress"].values())  # every interface (lan0: the LAN peer's ICMP errors)
        user = int(a["user"]) / tck * 1e9 / max(seen, 1)
        bpf = int(a["bpf"]) / max(seen, 1)
        subp = int(a["sub"]) / tck * 1e9 / max(seen, 1)
        fpk = rep["userspace"]["flows"]["packets"] if cfg == "packet" else k["flow_packets"]
        bad = check(cfg, rep, sub)
        # Packet events are not flow accounting: a gap there is noted, not counted as a loss.
        u = rep["userspace"]  # without packet events (flow) it has no events_* keys
        pub = u.get("events_published", 0) - u.get("events_unsubscribed", 0)
        if k["records"] != pub or pub != sub["events"] or u.get("events_dropped_hwm", 0):
            bad.append(f"note: packet records {k['records']}, events published {pub}, received {sub['events']}, "
                       f"hwm drops {u.get('events_dropped_hwm', 0)}")
        losses += [f"{label[cfg]} round {r}: {b}" for b in bad if not b.startswith("note:")]
        row.update(seen=seen, user=user, bpf=bpf, cpu=user + bpf, sub=subp, recs=k["records"], rf=k["ringbuf_full"])
        rows[cfg].append(row)
        print(f"{label[cfg]:<11} {r:>2} {tx:>8} {a['claim']:>8} {tx / secs:>7.0f} {seen:>8} {seen / max(tx, 1):>8.4f} | {user:>5.0f} {bpf:>5.0f} "
              f"{user + bpf:>5.0f} {subp:>5.0f} | {sysp:>5.0f} {sysp - basep:>8.0f} | {k['records']:>8} {sub['events']:>8} "
              f"{k['ringbuf_full']:>3} | {fpk:>8} {sub['flows']:>5} {sub['flow_packets']:>11}  "
              f"{'; '.join(bad) if bad else 'none'}")

med = lambda cfg, key: statistics.median(x[key] for x in rows[cfg])
print()
print(f"median of {rounds} round(s) per config (sys-base: each round against the base phase of the same round)")
print(f"{'config':<11} {'pps':>7} {'seen':>8} | {'user_ns/p':>9} {'bpf_ns/p':>8} {'cpu_ns/p':>8} {'(min..max)':>12} "
      f"{'sub_ns/p':>8} | {'sys_ns/p':>8} {'sys-base':>8} | {'vs packet':>9}  flow accounting")
for cfg in label:
    if cfg == "base":
        print(f"{label[cfg]:<11} {med(cfg, 'pps'):>7.0f} {'-':>8} | {'':>9} {'':>8} {'':>8} {'':>12} {'':>8} | "
              f"{med(cfg, 'sys'):>8.0f} {'-':>8} |")
        continue
    lo, hi = min(x["cpu"] for x in rows[cfg]), max(x["cpu"] for x in rows[cfg])
    lost = [l for l in losses if l.startswith(label[cfg] + " ")]
    print(f"{label[cfg]:<11} {med(cfg, 'pps'):>7.0f} {med(cfg, 'seen'):>8.0f} | {med(cfg, 'user'):>9.0f} {med(cfg, 'bpf'):>8.0f} "
          f"{med(cfg, 'cpu'):>8.0f} {f'({lo:.0f}..{hi:.0f})':>12} {med(cfg, 'sub'):>8.0f} | {med(cfg, 'sys'):>8.0f} "
          f"{med(cfg, 'sysx'):>8.0f} | {med(cfg, 'cpu') / med('packet', 'cpu'):>9.3f}  {'LOSS' if lost else 'exact'}")
print("pps = WAN peer eth0 tx_packets/s over the send; seen = xdp_ingress packets in the daemon's report (all interfaces)")
print("user_ns/p = daemon utime+stime / seen; bpf_ns/p = run_time_ns of its sniffer_* programs / seen (bpf_stats on);")
print("cpu_ns/p = user + bpf; sub_ns/p = the python SUB's utime+stime / seen; sys_ns/p = /proc/stat user+nice+system+irq+softirq,")
print("all CPUs, send + settle, / offered (subscriber included); sys-base = sys_ns/p minus the bare XDP_PASS phase's")
ratio = med("flow", "cpu") / med("packet", "cpu")
print(f"flow-mode CPU/packet / packet-mode CPU/packet (median user+bpf ns): {med('flow', 'cpu'):.0f} / {med('packet', 'cpu'):.0f}"
      f" = {ratio:.3f}: {'<= 0.2: yes' if ratio <= 0.2 else '> 0.2: NO'}; flow+1/100: {med('flow100', 'cpu') / med('packet', 'cpu'):.3f};"
      f" flow accounting loss: {'none' if not losses else 'YES (' + str(len(losses)) + ')'}")
for l in losses:
    print("  LOSS " + l)
sys.exit(3 if losses else 0)
PY
rc=$?
# Whatever the daemons logged (log_level warn): worth a look even when the figures are fine.
if cat "$W"/*.log 2>/dev/null | grep -q .; then
  echo "daemon log lines (warn and above), counted over all phases:"
  sed -E 's/^\[[^]]*\] *//' "$W"/*.log | sort | uniq -c | sort -rn | head -20
fi
exit "$rc"
