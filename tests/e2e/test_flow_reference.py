"""Flow records against a reference: tshark's conversation statistics.

For every capture of the corpus (corpus.py: SNIFFER_PCAPS, ../shared/pcaps
or tests/data/pcaps), every TCP and UDP conversation tshark reports
(tests/e2e/tshark_conv.py: outer headers only, the exact per-frame numbers) must equal
sniffer's flow record for it: packets and frame bytes per direction, and the times of
its first and last packet to the nanosecond (so its start and duration too). Twice: offline (--read-pcap: BPF_PROG_TEST_RUN, CSV
output) and live (tcpreplay from the WAN peer into the sensor's wan0, flow records
from the ZeroMQ stream; live durations are the replay's, so only counts compare).

tshark never ends a conversation on a timeout, so sniffer runs here with its timeouts
beyond any capture's length; the timeouts themselves are unit-tested
(tests/unit/test_flow_table.cpp). Conversations whose frames an outer-header meter
deliberately reads differently (tshark_conv.oddities: "inner" tunnel or 3+ VLAN tag
headers, "vlan_split", "uncounted" truncated TCP headers), and the first/last times of
conversations whose capture timestamps run backwards (sniffer clamps time inside a
flow; tshark takes the minimum), are compared and reported, but a difference there
does not fail the test. Where a SYN follows the close of a conversation ("syn_after_close":
a client retrying a refused connection with the same sequence number), tshark keeps it in
the conversation and sniffer starts a new flow, as Zeek does: there the flow records of the
5-tuple must add up to tshark's numbers exactly. Every figure is printed and written to
$SNIFFER_BUILD_DIR/flow_reference.txt.
"""
import csv
import ipaddress
import json
import subprocess
import time
from collections import Counter, defaultdict

import pytest

import tshark_conv as tc
from corpus import PCAPS, captures, corpus_line
from e2e_support import Subscriber, build_dir

EXCUSED = {"inner", "vlan_split", "uncounted"}  # deliberate outer-header differences
NO_TIMEOUTS = {"idle_timeout_ms": 86400000, "active_timeout_ms": 86400000, "tcp_close_grace_ms": 86400000}
PROTOS = {6: "tcp", 17: "udp"}


@pytest.fixture(scope="module")
def references():
    """tshark's tables, computed once per capture for both tests."""
    captures()  # fails on an empty corpus
    return {}


def reference(references, name):
    if name not in references:
        references[name] = tc.conversations(PCAPS / name)
    return references[name]


def compare(table, flows, counts_only=False):
    """Compares tshark's conversations with flow records (dicts: key, src, fwd/bwd packets and
    bytes, start_ns, end_ns), 5-tuple by 5-tuple in start order. Returns (matched, excused, failed)
    lists of (key, detail)."""
    odd = tc.oddities(table)
    by_key = defaultdict(list)
    for f in flows:
        by_key[f["key"]].append(f)
    matched, excused, failed = [], [], []
    for key, convs in table.items():
        mine = sorted(by_key.get(key, []), key=lambda f: f["start_ns"])
        if "syn_after_close" in odd.get(key, []) and len(mine) > len(convs):
            # A SYN after the close starts a new flow (docs/flow-features.md, as Zeek),
            # where tshark keeps a repeated SYN in the conversation: the flows of the
            # 5-tuple must add up to tshark's numbers exactly.
            problem = split_sums_differ(convs, mine, counts_only)
            (failed if problem else matched).append((key, problem or "split after close, sums match"))
            continue
        for i, c in enumerate(convs):
            problem = None
            if len(mine) != len(convs):
                problem = f"{len(convs)} conversation(s), {len(mine)} flow record(s)"
            else:
                f = mine[i]
                fwd, bwd = c.direction(f["src"]), None
                bwd = c.direction(fwd["dst"])
                got = (f["fwd_packets"], f["fwd_bytes"], f["bwd_packets"], f["bwd_bytes"])
                want = (fwd["packets"], fwd["bytes"], bwd["packets"], bwd["bytes"])
                if got != want:
                    problem = f"packets/bytes fwd,bwd {got}, tshark {want}"
                elif not counts_only and (f["start_ns"], f["end_ns"]) != (c.first_ns, c.last_ns):
                    problem = f"first/last packet at {f['start_ns']}/{f['end_ns']} ns, tshark {c.first_ns}/{c.last_ns}"
            flags = set(odd.get(key, []))
            if time_runs_backwards(table, c):
                flags.add("time_backwards")  # sniffer never lets time run backwards inside a flow
            if problem is None:
                matched.append((key, ""))
            elif EXCUSED & flags or (problem.startswith("first/last") and "time_backwards" in flags):
                excused.append((key, f"{problem} [{', '.join(sorted(flags))}]"))
            else:
                failed.append((key, f"{problem} [{', '.join(odd.get(key, [])) or 'no oddity'}]"))
    return matched, excused, failed


def split_sums_differ(convs, flows, counts_only):
    """None when the flows, summed per sending endpoint, carry the conversations'
    packets and bytes (and span their first to last packet), else what differs."""
    want, got = Counter(), Counter()
    for c in convs:
        for end in (c.a, c.b):
            d = c.direction(end)
            want[(end, "packets")] += d["packets"]
            want[(end, "bytes")] += d["bytes"]
    for f in flows:
        src = (f["src"][0], f["src"][1])
        other = [e for e in (convs[0].a, convs[0].b) if e != src][0]
        got[(src, "packets")] += f["fwd_packets"]
        got[(src, "bytes")] += f["fwd_bytes"]
        got[(other, "packets")] += f["bwd_packets"]
        got[(other, "bytes")] += f["bwd_bytes"]
    if +want != +got:
        return f"{len(flows)} flow records after a SYN on a closed flow: sums {dict(+got)}, tshark {dict(+want)}"
    span = (min(f["start_ns"] for f in flows), max(f["end_ns"] for f in flows))
    if not counts_only and span != (min(c.first_ns for c in convs), max(c.last_ns for c in convs)):
        return f"{len(flows)} flow records after a SYN on a closed flow span {span}"
    return None


def address_text(addr):
    return str(ipaddress.ip_address(bytes(addr) if isinstance(addr, (bytes, bytearray)) else addr))


def time_runs_backwards(table, conversation):
    times = [table.frames[e.frame].epoch_ns for e in conversation.events]
    return any(b < a for a, b in zip(times, times[1:]))


def flow_from_values(proto, src, sport, dst, dport, fwd_p, fwd_b, bwd_p, bwd_b, start_ns, end_ns):
    src, dst = address_text(src), address_text(dst)
    return {"key": tc.canonical_key(proto, src, sport, dst, dport), "src": (src, int(sport)),
            "fwd_packets": int(fwd_p), "fwd_bytes": int(fwd_b), "bwd_packets": int(bwd_p),
            "bwd_bytes": int(bwd_b), "start_ns": int(start_ns), "end_ns": int(end_ns)}


def report(title, results):
    lines = [title, "  " + corpus_line()]
    total = Counter()
    for name, (matched, excused, failed) in results.items():
        n = len(matched) + len(excused) + len(failed)
        total.update(conversations=n, matched=len(matched), excused=len(excused), failed=len(failed))
        lines.append(f"  {name:48s} {n:6d} conversations {len(matched):6d} match"
                     + (f", {len(excused)} differ (excused)" if excused else "")
                     + (f", {len(failed)} DIFFER" if failed else ""))
        for key, detail in (excused + failed)[:3]:
            lines.append(f"      {key}: {detail}")
    lines.append(f"  total: {total['conversations']} conversations in {len(results)} captures, "
                 f"{total['matched']} match exactly, {total['excused']} differ for a listed outer-header "
                 f"reason, {total['failed']} differ otherwise")
    text = "\n".join(lines)
    print(text)
    with open(build_dir() / "flow_reference.txt", "a") as out:
        out.write(text + "\n")
    return total


def test_offline_flows_match_tshark(env, tmp_path, references):
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "flows": NO_TIMEOUTS}))
    results = {}
    for name in captures():
        table = reference(references, name)
        out = tmp_path / "flows.csv"
        proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", PCAPS / name, "--write-csv", out],
                              capture_output=True, text=True, timeout=120)
        summary = json.loads(proc.stdout.splitlines()[-1])
        # A damaged file is reported (exit 1) after everything before the damage was processed.
        assert proc.returncode == (1 if summary["pcap"]["read_error"] else 0), proc.stderr
        assert summary["pcap"]["packets_run"] + summary["pcap"]["too_short"] + summary["pcap"]["rejected"] \
            == summary["pcap"]["packets_read"], summary
        assert summary["pcap"]["rejected"] == 0, summary
        flows = []
        with open(out) as f:
            for row in csv.DictReader(f):
                proto = PROTOS.get(int(row["Protocol"]))
                if proto and row["is_update"] == "0":
                    flows.append(flow_from_values(proto, row["Source IP"], row["Source Port"], row["Destination IP"],
                                                  row["Destination Port"], row["Total Fwd Packets"],
                                                  row["fwd_frame_bytes"], row["Total Backward Packets"],
                                                  row["bwd_frame_bytes"], row["start_ns"], row["end_ns"]))
        results[name] = compare(table, flows)
    total = report("offline (--read-pcap) vs tshark:", results)
    assert total["conversations"] > 1000
    assert total["failed"] == 0, "flow records differ from tshark (see the report above)"


def largest_frame(table):
    return max((f.cap_len for f in table.frames.values()), default=0)


def test_live_replay_flows_match_tshark(env, lab, start_daemon, references):
    """tcpreplay each capture into wan0 at top speed; the daemon's published flow records
    (ended at shutdown) must carry tshark's per-direction packet and byte counts."""
    if subprocess.run(["which", "tcpreplay"], capture_output=True).returncode != 0:
        pytest.fail("tcpreplay not installed (apt-get install tcpreplay)", pytrace=False)
    mtu = 9000
    lab.exec(lab.wan, ["ip", "link", "set", "eth0", "mtu", mtu])
    lab.exec(lab.gw, ["ip", "link", "set", "wan0", "mtu", mtu])
    results = {}
    for name in captures():
        table = reference(references, name)
        if largest_frame(table) - 14 > mtu or not table:
            continue  # frames the link cannot carry; nothing to compare
        daemon = start_daemon(publish={"packet_events": False, "send_hwm": 1000000},
                              flows=NO_TIMEOUTS, capture={"payload_bytes": 0, "ring_buffer_bytes": 1 << 26})
        sub = Subscriber(env, daemon.endpoint, b"flow")
        time.sleep(0.3)  # slow joiner
        replay = lab.exec(lab.wan, ["tcpreplay", "--topspeed", "-i", "eth0", PCAPS / name], check=False, timeout=120)
        assert "Failed packets:          0" in replay.stdout or "Failed packets: 0" in " ".join(replay.stdout.split()), \
            replay.stdout + replay.stderr
        rep = daemon.stop()
        sub.stop()
        assert rep["kernel"]["ringbuf_full"] == 0, rep
        assert rep["userspace"]["flows"]["publish"]["dropped_hwm"] == 0, rep
        flows = []
        for r in sub.snapshot():
            proto = PROTOS.get(r.l4_protocol)
            if proto and not r.is_update:
                flows.append(flow_from_values(proto, r.src_addr, r.src_port, r.dst_addr, r.dst_port, r.fwd.packets,
                                              r.fwd.bytes, r.bwd.packets, r.bwd.bytes, r.start_ns, r.end_ns))
        results[name] = compare(table, flows, counts_only=True)
    total = report("live (tcpreplay into wan0) vs tshark, counts:", results)
    assert total["conversations"] > 1000
    assert total["failed"] == 0, "flow records differ from tshark (see the report above)"
