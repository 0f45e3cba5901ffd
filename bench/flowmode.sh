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
BENCH=flowmode.sh BENCH_ROUNDS=3 P=${PREFIX:-fm$$}
# shellcheck source=SCRIPTDIR/lib/lab_bench.sh
source "$ROOT/bench/lib/lab_bench.sh"
# The subscriber runs outside the namespaces (the endpoint is an ipc:// file): end it ourselves.
S=
# shellcheck disable=SC2317  # called by the lib's exit trap
bench_on_exit() { [[ -n $S ]] && kill -TERM "$S" 2>/dev/null; }
lab_bench_setup

make_config packet userspace true 0
make_config flow kernel false 0
make_config flow100 kernel true 100
# the subscriber's topics per configuration (flow100 is "flow+1/100" in the table)
declare -A TOPICS=([packet]="pkt,flow" [flow]="flow" [flow100]="pkt,flow")

# measure NAME: the send (send_window) with, when a daemon runs (D set), its ticks, its programs'
# run time and the subscriber's ticks read around it. Appends one line "NAME key=value..." to
# W/rounds.txt.
measure() {
  local name=$1 d0=0 d1=0 b0=0 b1=0 u0=0 u1=0
  if [[ -n ${D:-} ]]; then b0=$(bpf_ns "$D"); d0=$(cpu_ticks "$D"); u0=$(cpu_ticks "$S"); fi
  send_window "$name"
  if [[ -n ${D:-} ]]; then
    kill -0 "$D" 2>/dev/null || fail "$name: the daemon died during the send: $(tail -5 "$W/$name.log")"
    d1=$(cpu_ticks "$D"); u1=$(cpu_ticks "$S"); b1=$(bpf_ns "$D")
  fi
  echo "$name $WIN user=$((d1 - d0)) bpf=$((b1 - b0)) sub=$((u1 - u0))" >> "$W/rounds.txt"
}

# phase CONFIG ROUND
phase() {
  if [[ $1 = base ]]; then base_phase "$1.$2"; else sensor_phase "$1" "$1.$2" "${TOPICS[$1]}"; fi
}

echo "flowmode.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "livegen --rate max, 1 thread, 1024 UDP flows; DURATION=${DURATION}s, ROUNDS=$ROUNDS (phase order rotates), CPU window = send + ${SETTLE}s; config/lab.json (64 B snippets)"
# Each round runs the four phases in a rotated order: no configuration always comes right after
# the same other one (a phase leaving work behind, or periodic load on this shared machine, would
# then always hit the same one).
CONFIGS=(base packet flow flow100)
for r in $(seq "$ROUNDS"); do
  for i in 0 1 2 3; do phase "${CONFIGS[$(rotated "$i" "$r" 4)]}" "$r"; done
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
