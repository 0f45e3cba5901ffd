#!/usr/bin/python3
"""Paired old/new --labels runs, interleaved (order alternating): python3 labels_pair.py ROUNDS RULES [PCAP...] (Round 14: labels). OLD/NEW: the binaries."""
import os, subprocess, sys, time, statistics
OLD, NEW = os.environ.get("OLD", "/tmp/labels-sniffer-3aba699"), os.environ.get("NEW", "build/sniffer")
rounds, rules, pcaps = int(sys.argv[1]), sys.argv[2], sys.argv[3:] or ["/work/shared/pcaps/flood/tcp_synflood_spoofed.pcap"]
OUT = os.environ.get("OUT", "/tmp")
res = {"old": [], "new": []}
def run(name, binary):
    cmd = [binary, "--read-pcap", *pcaps, "--write-csv", f"{OUT}/{name}.csv"]
    if rules != "-": cmd += ["--labels", rules]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    assert status == 0, cmd
    res[name].append((ru.ru_utime + ru.ru_stime, wall))
    print(f"{name} cpu {ru.ru_utime + ru.ru_stime:.3f} s wall {wall:.3f} s", flush=True)
for r in range(rounds):
    order = [("old", OLD), ("new", NEW)] if r % 2 == 0 else [("new", NEW), ("old", OLD)]
    for name, b in order: run(name, b)
for name in ("old", "new"):
    cpu = [c for c, _ in res[name]]; wall = [w for _, w in res[name]]
    print(f"{name}: cpu median {statistics.median(cpu):.3f} s (min {min(cpu):.3f}, max {max(cpu):.3f}); wall median {statistics.median(wall):.3f} s; n={len(cpu)}")
if rounds and res["old"]:
    wins = sum(n[0] < o[0] for o, n in zip(res["old"], res["new"]))
    print(f"new below old in cpu: {wins} of {rounds} rounds")
    import hashlib
    h = [hashlib.sha256(open(f"{OUT}/{n}.csv","rb").read()).hexdigest()[:16] for n in ("old","new")]
    print("csv old", h[0], "new", h[1], "same" if h[0]==h[1] else "DIFFERENT")
