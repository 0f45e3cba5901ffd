#!/usr/bin/env python3
"""Paired offline runs (bench/README.md, round 17): offline_ab.py ROUNDS CAPTURE name=CONFIG:BINARY[:ENGINE] ...
Every variant once a round, the order rotating; wall (monotonic) and CPU (user+sys of wait4)
per run; medians, quartiles, paired differences against the first variant, rounds lower.
CSV written to $AB_OUTDIR/<name>.csv (default /tmp/offline-ab); the sha256 of its sorted rows
printed per variant (one value: the same rows in every round; AB_DIGEST=0 skips it)."""
import hashlib, os, statistics, subprocess, sys, time

rounds = int(sys.argv[1])
cap = sys.argv[2]
variants = []
for spec in sys.argv[3:]:
    name, rest = spec.split("=", 1)
    parts = rest.split(":")
    cfg, binary = parts[0], parts[1]
    engine = parts[2] if len(parts) > 2 else None
    variants.append((name, cfg, binary, engine))
out = os.environ.get("AB_OUTDIR", "/tmp/offline-ab")
os.makedirs(out, exist_ok=True)
wall = {v[0]: [] for v in variants}
cpu = {v[0]: [] for v in variants}
digests = {v[0]: set() for v in variants}


def run(name, cfg, binary, engine):
    csv = f"{out}/{name}.csv"
    cmd = [binary, "--config", cfg, "--read-pcap", cap, "--write-csv", csv]
    if engine:
        cmd += ["--engine", engine]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.monotonic()
    if status != 0:
        sys.exit(f"{name}: exit status {status}")
    return t1 - t0, ru.ru_utime + ru.ru_stime, csv


def q(xs, f):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(f * (len(xs) - 1) + 0.5))]


for r in range(rounds):
    order = variants[r % len(variants):] + variants[:r % len(variants)]
    if r % 2:
        order = order[::-1]
    for v in order:
        w, c, csv = run(*v)
        wall[v[0]].append(w)
        cpu[v[0]].append(c)
        if os.environ.get("AB_DIGEST", "1") == "1":
            # sorted rows: kernel aggregation's order follows its map walk
            rows = subprocess.run(["sort", csv], capture_output=True, env={"LC_ALL": "C"}).stdout
            digests[v[0]].add(hashlib.sha256(rows).hexdigest()[:16])
    print(f"round {r + 1}: " + " ".join(f"{v[0]} {cpu[v[0]][-1]:.3f}/{wall[v[0]][-1]:.3f}" for v in variants),
          f"load {os.getloadavg()[0]:.2f}", flush=True)

base = variants[0][0]
print(f"{'variant':24} {'cpu_med':>8} {'cpu_q1':>7} {'cpu_q3':>7} {'wall_med':>8} {'wall_q1':>7} "
      f"{'dcpu_med_ms':>11} {'dq1':>6} {'dq3':>6} {'cpu<':>5} {'dwall_ms':>8} {'wall<':>5} sorted-csv")
for v in variants:
    n = v[0]
    dc = [a - b for a, b in zip(cpu[n], cpu[base])]
    dw = [a - b for a, b in zip(wall[n], wall[base])]
    print(f"{n:24} {statistics.median(cpu[n]):8.3f} {q(cpu[n], .25):7.3f} {q(cpu[n], .75):7.3f} "
          f"{statistics.median(wall[n]):8.3f} {q(wall[n], .25):7.3f} {statistics.median(dc) * 1e3:11.1f} "
          f"{q(dc, .25) * 1e3:6.1f} {q(dc, .75) * 1e3:6.1f} {sum(d < 0 for d in dc):2d}/{rounds:<2d} "
          f"{statistics.median(dw) * 1e3:8.1f} {sum(d < 0 for d in dw):2d}/{rounds:<2d} {','.join(sorted(digests[n]))}")
