#!/usr/bin/python3
"""The figures of bench/peers.sh: a line per phase and round, then one table of medians over the rounds.
Usage: peers_table.py WORKDIR CLK_TCK ROUNDS

WORKDIR/rounds.txt has a line per phase, "TOOL.ROUND key=value...": tx (WAN peer eth0 tx_packets over
the send), wire (WAN peer eth0 tx + rx packets while the tool ran: all that crossed wan0), secs (the send),
sys (system-wide ticks, send + settle), user (the tool's processes' ticks), bpf (sniffer's programs'
run_time_ns), count (the packets the tool accounted for; the sensor's come from WORKDIR/TOOL.ROUND.json,
its final report). bench/README.md ("peers.sh") says what every column means."""
import json
import statistics
import sys

LABEL = {
    "flow": "sniffer, kernel flow aggregation",
    "packet": "sniffer, packet events (lab.json)",
    "packet_old": "sniffer, packet events (lab.json), OLD_SNIFFER",
    "packet_var": "sniffer, packet events (lab.json + VARIANT_SED)",
    "tcpdump": "tcpdump -s 128 -w /dev/null",
    "softflowd": "softflowd (NetFlow v9)",
    "argus": "argus",
    "pmacctd": "pmacctd (memory plugin)",
}


def sensor_count(w, name, tool):
    """Packets in the sensor's flow accounting, and what went missing on the way (a list)."""
    rep = json.loads(open(f"{w}/{name}.json").read().strip().splitlines()[-1])
    k, f = rep["kernel"], rep["userspace"]["flows"]
    bad = [f"{c}={k[c]}" for c in ("ringbuf_full", "flow_ringbuf_full", "flow_map_full") if k.get(c)]
    if f.get("sweep_failures"):
        bad.append(f"sweep_failures={f['sweep_failures']}")
    if tool.startswith("packet"):
        return f["packets"], bad  # userspace aggregation: what the flow table counted
    return k["flow_packets"], bad


def read_rounds(w, tck):
    runs = {}
    for line in open(w + "/rounds.txt"):
        name, *kv = line.split()
        a = dict(x.split("=", 1) for x in kv)
        tool, rnd = name.rsplit(".", 1)
        tx = int(a["tx"])
        user_ns = int(a["user"]) / tck * 1e9
        own_ns = int(a["gen"]) * 1e6 + int(a["ksirq"]) / tck * 1e9 + user_ns
        row = {"tx": tx, "pps": tx / float(a["secs"]), "sys": int(a["sys"]) / tck * 1e9 / max(tx, 1),
               "own": own_ns / max(tx, 1), "proc": (user_ns + int(a["bpf"])) / max(tx, 1),
               "want": int(a["wire"]), "bad": [f"killed by signal {int(a['rc']) - 128}"] if int(a["rc"]) > 128 else []}
        if tool.startswith("packet") or tool == "flow":
            row["count"], bad = sensor_count(w, name, tool)
            row["bad"] += bad
        elif tool != "base":
            row["count"] = int(a["count"])
        runs.setdefault(tool, {})[int(rnd)] = row
    return runs


def main():
    w, tck, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    runs = read_rounds(w, tck)
    print(f"{'tool':<10} {'rd':>2} {'sent':>8} {'+wire':>5} {'pps':>7} {'counted':>8} {'cpl':>7} | "
          f"{'sys/p':>6} {'-base':>6} {'own/p':>6} {'-base':>6} {'proc/p':>6}  notes")
    by_base = runs["base"]
    for r in range(1, rounds + 1):
        base = by_base[r]["sys"]
        for tool, by_round in runs.items():
            x = by_round[r]
            x["sysx"] = x["sys"] - base
            x["ownx"] = x["own"] - by_base[r]["own"]
            if tool == "base":
                print(f"{tool:<10} {r:>2} {x['tx']:>8} {x['want'] - x['tx']:>5} {x['pps']:>7.0f} {'-':>8} {'-':>7} | "
                      f"{x['sys']:>6.0f} {'-':>6} {x['own']:>6.0f} {'-':>6} {'-':>6}")
                continue
            x["cpl"] = x["count"] / max(x["want"], 1)
            print(f"{tool:<10} {r:>2} {x['tx']:>8} {x['want'] - x['tx']:>5} {x['pps']:>7.0f} {x['count']:>8} "
                  f"{x['cpl']:>7.4f} | {x['sys']:>6.0f} {x['sysx']:>6.0f} {x['own']:>6.0f} {x['ownx']:>6.0f} {x['proc']:>6.0f}  {'; '.join(x['bad']) or '-'}")

    med = lambda tool, key: statistics.median(x[key] for x in runs[tool].values())
    base = runs["base"]
    print()
    print(f"median of {rounds} round(s); base (bare XDP_PASS on wan0, no tool): {med('base', 'pps'):.0f} pps, "
          f"{med('base', 'sys'):.0f} ns/pkt system-wide (min..max {min(x['sys'] for x in base.values()):.0f}.."
          f"{max(x['sys'] for x in base.values()):.0f}), {med('base', 'own'):.0f} ns/pkt generator and ksoftirqd")
    print("| tool | offered pps | completeness | sys ns/pkt over base | gen+tool ns/pkt over base | process ns/pkt "
          "| vs sniffer flow mode (sys) |")
    print("|---|---|---|---|---|---|---|")
    flow = med("flow", "sysx") if "flow" in runs else 0
    for tool in sorted((t for t in LABEL if t in runs), key=lambda t: med(t, "sysx")):
        xs = list(runs[tool].values())
        exact = sum(x["count"] == x["want"] and not x["bad"] for x in xs)
        cpl = (f"exact, {exact}/{len(xs)}" if exact == len(xs) else
               f"{med(tool, 'cpl'):.4f} (min {min(x['cpl'] for x in xs):.4f}, exact {exact}/{len(xs)})")
        ratio = f"{med(tool, 'sysx') / flow:.1f}" if flow > 0 else "n/a"
        print(f"| {LABEL[tool]} | {med(tool, 'pps'):,.0f} | {cpl} | {med(tool, 'sysx'):,.0f} | "
              f"{med(tool, 'ownx'):,.0f} | {med(tool, 'proc'):,.0f} | {ratio} |")
    for key, what in (("sysx", "system-wide"), ("ownx", "generator + ksoftirqd + tool")):
        for packet in (t for t in ("packet", "packet_old", "packet_var") if t in runs and "tcpdump" in runs):
            pk, td = med(packet, key), med("tcpdump", key)
            print(f"{packet} / tcpdump, {what} over base: {pk:.0f} / {td:.0f} = " + (f"{pk / td:.2f}" if td > 0 else "n/a"))


if __name__ == "__main__":
    main()
