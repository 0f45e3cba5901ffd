#!/usr/bin/python3
"""The figures of bench/workers.sh: a line per phase, then per configuration and offered rate the
medians over the rounds, the highest lossless rate per configuration (over all rounds and per round)
and the ratio pkt2 / pkt1.
Usage: workers_table.py WORKDIR CLK_TCK ROUNDS "RATES" "CONFIGS"

WORKDIR/rounds.txt has a line per phase, "CONFIG.RATE.ROUND key=value...": tx (WAN peer eth0
tx_packets over the send), secs (the send), sys (system-wide ticks, send + settle), gen (livegen's
CPU, ms), user (the daemon's ticks), bpf (its programs' run_time_ns), sub (the subscriber's ticks),
t0/t1 (each daemon thread's ticks before/after, TID:COMM:TICKS comma-separated), idle0/idle1 (each
CPU's idle ticks before/after), load (1-minute load average after the send).
WORKDIR/NAME.json is the daemon's final report, WORKDIR/NAME.sub.json the subscriber's counts
(bench/sub_fast.cpp or bench/sub_flows.py). bench/README.md ("Workers (issue 15)") says what every
column means."""
import json
import statistics
import sys

w, tck, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rates, configs = sys.argv[4].split(), sys.argv[5].split()
runs = {}
for line in open(w + "/rounds.txt"):
    name, *kv = line.split()
    runs[name] = dict(x.split("=", 1) for x in kv)


def sum_tree(x):
    """The sum of every number in a nested dict (packets by hook and class, decode errors by reason)."""
    return sum(sum_tree(v) for v in x.values()) if isinstance(x, dict) else x


def identities(k, u, sub):
    """The counters' identities (README.md, "Counters") that fail in one packet-event phase."""
    bad = []
    packets = sum_tree(k["packets"])
    if packets != k["records"] + k["ringbuf_full"] + k["filtered"] + k["blocked_unrecorded"]:
        bad.append(f"packets {packets} != records + ringbuf_full + filtered + blocked_unrecorded")
    if not k["records"] == u["records_received"] == sum(x["records_received"] for x in u["workers"]) == \
            u["events_published"] + u["events_dropped_hwm"] + sum_tree(u["decode_errors"]):
        bad.append(f"records {k['records']} != received {u['records_received']} (or the workers' sum) "
                   f"!= published {u['events_published']} + hwm + decode errors")
    if sub["events"] != u["events_published"] - u["events_unsubscribed"] or \
            sub["events"] != sum(x["events"] for x in sub["workers"].values()):
        bad.append(f"subscriber events {sub['events']} != published - unsubscribed (or its workers' sum)")
    f = u["flows"]
    if f["created"] != sum_tree(f["ended"]) or sum_tree(f["ended"]) + f["updates"] != \
            f["publish"]["published"] + f["publish"]["dropped_hwm"]:
        bad.append("flows created != ended, or ended + updates != flow records published + dropped_hwm")
    return bad


def losses(cfg, rep, sub):
    """What went missing in one phase, and where (empty: lossless)."""
    k, u = rep["kernel"], rep["userspace"]
    bad = [f"ring: {c}={k[c]}" for c in ("ringbuf_full", "flow_ringbuf_full", "flow_map_full") if k.get(c)]
    if u["flows"].get("sweep_failures"):
        bad.append(f"sweep_failures={u['flows']['sweep_failures']}")
    if cfg.startswith("pkt") and u["events_dropped_hwm"]:
        bad.append(f"hwm: {u['events_dropped_hwm']} events refused")
    for topic, seq in sub["seq"].items():
        if seq["missing"] or seq["out_of_order"]:
            bad.append(f"sub {topic}: {seq['missing']} batches missing in {seq['gaps']} gaps, "
                       f"{seq['out_of_order']} out of order")
    p = u["flows"]["publish"]
    if p["dropped_hwm"] or p["published"] - p["unsubscribed"] != sub["flow_records"]:
        bad.append(f"flow records published {p['published'] - p['unsubscribed']} (hwm drops {p['dropped_hwm']}), "
                   f"received {sub['flow_records']}")
    if cfg.startswith("pkt"):
        bad += identities(k, u, sub)
        if sub["events"] != k["records"]:
            bad.append(f"subscriber events {sub['events']} != kernel records {k['records']}")
        if sub["flow_packets"] != u["flows"]["packets"]:
            bad.append(f"sub flow packets {sub['flow_packets']} != userspace.flows.packets {u['flows']['packets']}")
    elif sub["flow_packets"] != k["flow_packets"]:
        bad.append(f"sub flow packets {sub['flow_packets']} != kernel flow_packets {k['flow_packets']}")
    return bad


def thread_shares(a, secs):
    """Each daemon thread's share of one CPU over the window, and of the window it waited runnable
    for a CPU: workers (sniffer-w0, ...; with 1 worker the main thread, which runs it) as lists of
    (run, wait), io (the ZeroMQ threads' run)."""
    def parse(s):
        return {t: (c, int(n), int(d)) for t, c, n, d in (x.split(":") for x in s.split(",") if x.count(":") == 3)}
    before, after = parse(a["t0"]), parse(a["t1"])
    by_name = {}
    for tid, (comm, ticks, wait) in after.items():
        _, ticks0, wait0 = before.get(tid, (comm, 0, 0))
        run, waited = by_name.get(comm, (0, 0))
        by_name[comm] = (run + (ticks - ticks0) / tck / secs, waited + (wait - wait0) / 1e9 / secs)
    workers = [v for c, v in sorted(by_name.items()) if c.startswith("sniffer-w")] or [by_name.get("sniffer", (0, 0))]
    io = sum(v[0] for c, v in by_name.items() if c.startswith("ZMQbg"))
    return workers, io


def cpu_idle(a, secs):
    """Each CPU's idle share over the window."""
    return [(int(y) - int(x)) / tck / secs for x, y in zip(a["idle0"].split(","), a["idle1"].split(","))]


rows = {}  # (cfg, rate) -> list of per-round dicts
print(f"{'config':<6} {'rate':>8} {'rd':>2} {'load':>5} {'pps':>8} {'seen':>8} | {'user':>5} {'bpf':>5} {'sub':>5} "
      f"{'gen':>5} | {'work% wait%':>13} {'io%':>3} {'sub%':>4} {'idle%':>7} | {'sys':>5} {'sys-base':>8} | loss")
for r in range(1, rounds + 1):
    for rate in rates:
        base = runs[f"base.{rate}.{r}"]
        basep = int(base["sys"]) / tck * 1e9 / max(int(base["tx"]), 1)
        for cfg in configs:
            a = runs[f"{cfg}.{rate}.{r}"]
            tx, secs = int(a["tx"]), float(a["secs"])
            window = secs + 1  # send + settle
            sysp = int(a["sys"]) / tck * 1e9 / max(tx, 1)
            idle = cpu_idle(a, window)
            row = {"pps": tx / secs, "sys": sysp, "sysx": sysp - basep, "load": float(a["load"]),
                   "gen": int(a["gen"]) * 1e6 / max(tx, 1), "idle": sum(idle)}
            idle_s = "/".join(f"{100 * x:.0f}" for x in idle)
            if cfg == "base":
                rows.setdefault((cfg, rate), []).append(row)
                print(f"{cfg:<6} {rate:>8} {r:>2} {row['load']:>5.2f} {row['pps']:>8.0f} {'-':>8} | {'':>5} {'':>5} "
                      f"{'':>5} {row['gen']:>5.0f} | {'':>13} {'':>3} {'':>4} {idle_s:>7} | {sysp:>5.0f} {'':>8} |")
                continue
            name = f"{cfg}.{rate}.{r}"
            rep = json.loads(open(f"{w}/{name}.json").read().strip().splitlines()[-1])
            sub = json.load(open(f"{w}/{name}.sub.json"))
            seen = max(sum(rep["kernel"]["packets"]["xdp_ingress"].values()), 1)
            workers, io = thread_shares(a, window)
            row.update(seen=seen, user=int(a["user"]) / tck * 1e9 / seen, bpf=int(a["bpf"]) / seen,
                       sub=int(a["sub"]) / tck * 1e9 / seen, wmax=100 * max(x[0] for x in workers),
                       wait=100 * max(x[1] for x in workers), io=100 * io,
                       subp=100 * int(a["sub"]) / tck / window, bad=losses(cfg, rep, sub))
            rows.setdefault((cfg, rate), []).append(row)
            work_s = "/".join(f"{100 * x[0]:.0f}" for x in workers) + " " + "/".join(f"{100 * x[1]:.0f}" for x in workers)
            print(f"{cfg:<6} {rate:>8} {r:>2} {row['load']:>5.2f} {row['pps']:>8.0f} {seen:>8} | {row['user']:>5.0f} "
                  f"{row['bpf']:>5.0f} {row['sub']:>5.0f} {row['gen']:>5.0f} | {work_s:>13} {row['io']:>3.0f} "
                  f"{row['subp']:>4.0f} {idle_s:>7} | {sysp:>5.0f} {row['sysx']:>8.0f} | "
                  f"{'; '.join(row['bad']) if row['bad'] else 'none'}")


def med(cfg, rate, key):
    return statistics.median(x[key] for x in rows[(cfg, rate)])


def medians_table():
    """Per configuration and rate, the medians over the rounds; returns the highest lossless rate
    per configuration (RATES rise: the last step up to which every step was lossless in every round)."""
    print()
    print(f"median of {rounds} round(s); lossless: every round of that configuration and rate")
    print(f"{'config':<6} {'rate':>8} {'pps':>8} | {'user_ns/p':>9} {'bpf_ns/p':>8} {'proc_ns/p':>9} {'sub_ns/p':>8} "
          f"{'gen_ns/p':>8} {'wmax%':>5} {'wait%':>5} {'io%':>3} {'idle%':>5} | {'sys_ns/p':>8} {'sys-base':>8} | lossless")
    best, stepped_lossy = {}, set()
    for cfg in configs:
        for rate in rates:
            common = (f"{med(cfg, rate, 'gen'):>8.0f}", f"{100 * med(cfg, rate, 'idle'):>5.0f}",
                      f"{med(cfg, rate, 'sys'):>8.0f}")
            if cfg == "base":
                print(f"{cfg:<6} {rate:>8} {med(cfg, rate, 'pps'):>8.0f} | {'':>9} {'':>8} {'':>9} {'':>8} "
                      f"{common[0]} {'':>5} {'':>5} {'':>3} {common[1]} | {common[2]} {'-':>8} |")
                continue
            ok = not any(x["bad"] for x in rows[(cfg, rate)])
            if ok and cfg not in stepped_lossy:
                best[cfg] = med(cfg, rate, "pps")
            elif not ok:
                stepped_lossy.add(cfg)
            proc = med(cfg, rate, "user") + med(cfg, rate, "bpf")
            print(f"{cfg:<6} {rate:>8} {med(cfg, rate, 'pps'):>8.0f} | {med(cfg, rate, 'user'):>9.0f} "
                  f"{med(cfg, rate, 'bpf'):>8.0f} {proc:>9.0f} {med(cfg, rate, 'sub'):>8.0f} {common[0]} "
                  f"{med(cfg, rate, 'wmax'):>5.0f} {med(cfg, rate, 'wait'):>5.0f} {med(cfg, rate, 'io'):>3.0f} {common[1]} | {common[2]} "
                  f"{med(cfg, rate, 'sysx'):>8.0f} | {'yes' if ok else 'NO'}")
    return best


def per_round_best(cfg, r):
    """The offered rate of the last step of RATES up to which every step of round r was lossless."""
    best = 0
    for rate in rates:
        row = rows[(cfg, rate)][r - 1]
        if row["bad"]:
            break
        best = row["pps"]
    return best


best = medians_table()
print("pps = WAN peer eth0 tx_packets/s over the send (offered); seen = xdp_ingress packets in the daemon's report;")
print("user = daemon utime+stime / seen; bpf = run_time_ns of its programs / seen; proc = user + bpf; sub = the")
print("subscriber's utime+stime / seen; gen = livegen's CPU (with the softirq work its sends set off) / offered;")
print("work% = each worker thread's share of one CPU (1 worker: the main thread), wmax% the busiest; wait% = each")
print("worker's time runnable but waiting for a CPU (schedstat run_delay) / window, the median's the longest; io% = the")
print("daemon's ZeroMQ I/O thread; sub% = the subscriber's; idle% = each CPU's idle share (per CPU; median: sum);")
print("all over send + settle; sys = /proc/stat user+nice+system+irq+softirq, all CPUs, / offered;")
print("sys-base = sys minus the base phase's at that rate and round")
print("highest lossless offered rate (pps, median of the rounds, at the highest step of RATES up to which every step\n"
      "was lossless in every round): " +
      ", ".join(f"{c} {best.get(c, 0):.0f}" for c in configs if c != "base"))
for one, two in (("pkt1", "pkt2"), ("pkt1big", "pkt2"), ("flow1", "flow2")):
    if one not in configs or two not in configs:
        continue
    each = [(per_round_best(one, r), per_round_best(two, r)) for r in range(1, rounds + 1)]
    print(f"per round, {two} / {one}: " + ", ".join(f"{b:.0f} / {a:.0f}" for a, b in each))
    if best.get(one):
        print(f"{two} / {one} lossless rate: {best.get(two, 0):.0f} / {best[one]:.0f} = {best.get(two, 0) / best[one]:.2f}")
