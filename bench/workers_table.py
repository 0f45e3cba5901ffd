#!/usr/bin/python3
"""The figures of bench/workers.sh: a line per phase, then per configuration and offered rate the
medians over the rounds, the highest lossless rate per configuration and the ratio pkt2 / pkt1.
Usage: workers_table.py WORKDIR CLK_TCK ROUNDS "RATES" "CONFIGS"

WORKDIR/rounds.txt has a line per phase, "CONFIG.RATE.ROUND key=value...": tx (WAN peer eth0
tx_packets over the send), secs (the send), sys (system-wide ticks, send + settle), user (the
daemon's ticks), bpf (its programs' run_time_ns), sub (the subscriber's ticks), w0/w1 (each worker
thread's ticks before/after, comma-separated), load (1-minute load average after the send).
WORKDIR/NAME.json is the daemon's final report, WORKDIR/NAME.sub.json the subscriber's counts
(bench/sub_flows.py). bench/README.md ("Workers (issue 15)") says what every column means."""
import json
import statistics
import sys

w, tck, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rates, configs = sys.argv[4].split(), sys.argv[5].split()
runs = {}
for line in open(w + "/rounds.txt"):
    name, *kv = line.split()
    runs[name] = dict(x.split("=", 1) for x in kv)


def losses(cfg, rep, sub):
    """What went missing in one phase (empty: lossless)."""
    k, u = rep["kernel"], rep["userspace"]
    bad = [f"{c}={k[c]}" for c in ("ringbuf_full", "flow_ringbuf_full", "flow_map_full") if k.get(c)]
    if u["flows"].get("sweep_failures"):
        bad.append(f"sweep_failures={u['flows']['sweep_failures']}")
    p = u["flows"]["publish"]
    if p["dropped_hwm"] or p["published"] - p["unsubscribed"] != sub["flow_records"]:
        bad.append(f"flow records published {p['published'] - p['unsubscribed']} (hwm drops {p['dropped_hwm']}), "
                   f"received {sub['flow_records']}")
    if cfg.startswith("pkt"):
        pub = u["events_published"] - u["events_unsubscribed"]
        if u["events_dropped_hwm"] or k["records"] != pub or pub != sub["events"]:
            bad.append(f"packet records {k['records']}, events published {pub} (hwm drops {u['events_dropped_hwm']}), "
                       f"received {sub['events']}")
        if sub["flow_packets"] != u["flows"]["packets"]:
            bad.append(f"sub flow packets {sub['flow_packets']} != userspace.flows.packets {u['flows']['packets']}")
    elif sub["flow_packets"] != k["flow_packets"]:
        bad.append(f"sub flow packets {sub['flow_packets']} != kernel flow_packets {k['flow_packets']}")
    return bad


def busiest_worker(a, secs):
    """The busiest worker thread's share of one CPU over the window (send + settle); with one worker,
    which runs on the main thread (no sniffer-w0), the whole process's."""
    before, after = a["w0"].split(","), a["w1"].split(",")
    if a["w0"] == "0" or len(before) != len(after):
        return int(a["user"]) / tck / secs
    return max(int(y) - int(x) for x, y in zip(before, after)) / tck / secs


rows = {}  # (cfg, rate) -> list of per-round dicts
print(f"{'config':<6} {'rate':>8} {'rd':>2} {'load':>5} {'pps':>8} {'seen':>8} | {'user':>5} {'bpf':>5} {'sub':>5} "
      f"{'wmax%':>5} | {'sys':>5} {'sys-base':>8} | loss")
for r in range(1, rounds + 1):
    for rate in rates:
        base = runs[f"base.{rate}.{r}"]
        basep = int(base["sys"]) / tck * 1e9 / max(int(base["tx"]), 1)
        for cfg in configs:
            a = runs[f"{cfg}.{rate}.{r}"]
            tx, secs = int(a["tx"]), float(a["secs"])
            sysp = int(a["sys"]) / tck * 1e9 / max(tx, 1)
            row = {"pps": tx / secs, "sys": sysp, "sysx": sysp - basep, "load": float(a["load"])}
            if cfg == "base":
                rows.setdefault((cfg, rate), []).append(row)
                print(f"{cfg:<6} {rate:>8} {r:>2} {row['load']:>5.2f} {row['pps']:>8.0f} {'-':>8} | {'':>5} {'':>5} "
                      f"{'':>5} {'':>5} | {sysp:>5.0f} {'':>8} |")
                continue
            name = f"{cfg}.{rate}.{r}"
            rep = json.loads(open(f"{w}/{name}.json").read().strip().splitlines()[-1])
            sub = json.load(open(f"{w}/{name}.sub.json"))
            seen = max(sum(rep["kernel"]["packets"]["xdp_ingress"].values()), 1)
            bad = losses(cfg, rep, sub)
            row.update(seen=seen, user=int(a["user"]) / tck * 1e9 / seen, bpf=int(a["bpf"]) / seen,
                       sub=int(a["sub"]) / tck * 1e9 / seen, wmax=100 * busiest_worker(a, secs + 1), bad=bad)
            rows.setdefault((cfg, rate), []).append(row)
            print(f"{cfg:<6} {rate:>8} {r:>2} {row['load']:>5.2f} {row['pps']:>8.0f} {seen:>8} | {row['user']:>5.0f} "
                  f"{row['bpf']:>5.0f} {row['sub']:>5.0f} {row['wmax']:>5.0f} | {sysp:>5.0f} {row['sysx']:>8.0f} | "
                  f"{'; '.join(bad) if bad else 'none'}")

med = lambda cfg, rate, key: statistics.median(x[key] for x in rows[(cfg, rate)])
print()
print(f"median of {rounds} round(s); lossless: every round of that configuration and rate")
print(f"{'config':<6} {'rate':>8} {'pps':>8} | {'user_ns/p':>9} {'bpf_ns/p':>8} {'proc_ns/p':>9} {'sub_ns/p':>8} "
      f"{'wmax%':>5} | {'sys_ns/p':>8} {'sys-base':>8} | lossless")
best, stepped_lossy = {}, set()
for cfg in configs:
    for rate in rates:
        if cfg == "base":
            print(f"{cfg:<6} {rate:>8} {med(cfg, rate, 'pps'):>8.0f} | {'':>9} {'':>8} {'':>9} {'':>8} {'':>5} | "
                  f"{med(cfg, rate, 'sys'):>8.0f} {'-':>8} |")
            continue
        ok = not any(x["bad"] for x in rows[(cfg, rate)])
        if ok and cfg not in stepped_lossy:
            best[cfg] = med(cfg, rate, "pps")  # RATES rise: every step so far lossless
        elif not ok:
            stepped_lossy.add(cfg)
        proc = med(cfg, rate, "user") + med(cfg, rate, "bpf")
        print(f"{cfg:<6} {rate:>8} {med(cfg, rate, 'pps'):>8.0f} | {med(cfg, rate, 'user'):>9.0f} "
              f"{med(cfg, rate, 'bpf'):>8.0f} {proc:>9.0f} {med(cfg, rate, 'sub'):>8.0f} {med(cfg, rate, 'wmax'):>5.0f} | "
              f"{med(cfg, rate, 'sys'):>8.0f} {med(cfg, rate, 'sysx'):>8.0f} | {'yes' if ok else 'NO'}")
print("pps = WAN peer eth0 tx_packets/s over the send (offered); seen = xdp_ingress packets in the daemon's report;")
print("user = daemon utime+stime / seen; bpf = run_time_ns of its programs / seen; proc = user + bpf; sub = the")
print("python subscriber's utime+stime / seen; wmax% = the busiest worker thread's CPU (1 worker: the process's)")
print("over send + settle; sys = /proc/stat user+nice+system+irq+softirq, all CPUs, / offered;")
print("sys-base = sys minus the base phase's at that rate and round")
print("highest lossless offered rate (pps, median of the rounds, at the highest step of RATES up to which every step\n"
      "was lossless in every round): " +
      ", ".join(f"{c} {best.get(c, 0):.0f}" for c in configs if c != "base"))
for one, two in (("pkt1", "pkt2"), ("flow1", "flow2")):
    if one in configs and two in configs and best.get(one):
        print(f"{two} / {one} lossless rate: {best.get(two, 0):.0f} / {best[one]:.0f} = {best.get(two, 0) / best[one]:.2f}")
