"""The two offline engines run one program: --engine user (bpf/sniffer.bpf.c compiled as C,
in-process) and --engine kernel (the loaded XDP program, BPF_PROG_TEST_RUN per packet).

Every capture of the corpus (corpus.py), and one written here with frames at the edges of
what BPF_PROG_TEST_RUN takes, through both engines: the flow records (CSV, byte for byte), the
programs' counters, the pipeline's and the capture reader's must be identical. And every
packet event published from the in-repository corpus, payload snippets included, must be
identical too (the kernel clock's monotonic_ns aside: it says when the program ran). Under
kernel flow aggregation too, the flows (kept in the engine's map) must be the same.
"""
import json
import subprocess
import time

import pytest

from corpus import REPO_PCAPS, captures, corpus_line, PCAPS
from pcap_frames import ether, ipv4, ipv6, tcp, udp, write_pcap

ENGINES = ("user", "kernel")
# BPF_PROG_TEST_RUN: headers are parsed in a frame's first 3,520 bytes (a page less the XDP
# headroom and the shared info), the rest sits in up to 17 page fragments; more is refused.
TEST_RUN_LINEAR = 3520
TEST_RUN_MAX = TEST_RUN_LINEAR + 17 * 4096


def dest_options(next_header, length):
    """IPv6 destination options headers (Pad1-filled: zero bytes) of `length` bytes in all (a multiple of
    8), each at most 2,048 bytes, the last followed by next_header."""
    out = b""
    while length:
        size = min(length, 2048)
        length -= size
        nxt = 60 if length else next_header
        out += bytes([nxt, size // 8 - 1]) + bytes(size - 2)
    return out


def edge_capture(path):
    """Frames at the edges of the kernel's test run: a UDP header ending just inside the
    linear part (its payload in the fragments), one crossing its end and one past it, a large
    TCP segment, the largest frame the kernel takes and one byte more."""
    a6, b6 = "2001:db8::1", "2001:db8::2"
    t = 1_700_000_000.0
    frames = []
    for i, l4_at in enumerate((TEST_RUN_LINEAR - 10, TEST_RUN_LINEAR - 2, TEST_RUN_LINEAR + 6)):
        frames.append((t + i, ether(0x86DD) + ipv6(a6, b6, 60, dest_options(17, l4_at - 54) +
                                                   udp(5000 + i, 53, bytes(range(256)) * 8))))
    body = bytes(range(256)) * 240
    frames.append((t + 4, ether(0x0800) + ipv4("192.0.2.1", "192.0.2.2", 6, tcp(40000, 80, 0x18, payload=body))))
    for n, size in enumerate((TEST_RUN_MAX, TEST_RUN_MAX + 1)):
        # An IPv4 length of 0 (as a TSO capture has): the frame's own length stands in.
        frame = ether(0x0800) + ipv4("192.0.2.1", "192.0.2.2", 253, bytes(size - 34), total_len=0)
        assert len(frame) == size
        frames.append((t + 5 + n, frame))
    return write_pcap(path, frames, snaplen=262144)


def offline(env, workdir, engine, inputs, config):
    """Starts one offline run; finish() gives (CSV bytes, report)."""
    workdir.mkdir(exist_ok=True)
    config_path = workdir / "offline.json"
    config_path.write_text(json.dumps(config))
    out = workdir / "flows.csv"
    cmd = [env.sniffer, "--config", config_path, "--engine", engine, "--read-pcap", *inputs]
    if "publish" not in config:
        cmd += ["--write-csv", out]
    else:
        cmd += ["--wait-subscriber", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish():
        stdout, stderr = proc.communicate(timeout=300)
        report = json.loads(stdout.splitlines()[-1])
        assert report["pcap"]["engine"] == engine
        assert proc.returncode == (1 if report["pcap"]["read_error"] else 0), stderr
        return (out.read_bytes() if out.exists() else b""), report
    return finish


def without_timings(section):
    """A report section without what differs by engine or by clock: the engine's name, peak
    memory, publishing latency, and the number of batches: a batch also leaves when its oldest
    event has waited publish.batch_max_latency_ms of the wall clock, so a run slowed by the
    machine's load cuts the same events into more batches (41 against 42 seen under load).
    The ring's fill gauge goes too: it is each CPU's last sight of the ring, and the kernel
    engine's test runs land on whichever CPU the scheduler gives the thread, where the user
    engine has one (184 against 968 bytes seen)."""
    out = {k: v for k, v in section.items()
           if k not in ("engine", "peak_rss_bytes", "publish_latency", "ring_fill_bytes")
           and not k.startswith("batches_")}
    if isinstance(out.get("flows"), dict) and "publish" in out["flows"]:
        publish = {k: v for k, v in out["flows"]["publish"].items() if not k.startswith("batches_")}
        out["flows"] = {**out["flows"], "publish": publish}
    return out


def differences(user, kernel):
    """The report's sections that differ between the engines."""
    out = {}
    for section in ("kernel", "userspace", "pcap"):
        u, k = without_timings(user[section]), without_timings(kernel[section])
        for key in u.keys() | k.keys():
            if u.get(key) != k.get(key):
                out[f"{section}.{key}"] = (u.get(key), k.get(key))
    return out


INTERFACE = [{"name": "wan0", "role": "wan", "mode": "gateway"}]


def test_every_capture_gives_identical_flows_and_counters_in_both_engines(env, tmp_path):
    names = [*captures(), edge_capture(tmp_path / "edges.pcap")]
    config = {"interfaces": INTERFACE, "capture": {"payload_bytes": 64}}
    runs_with_rejects = 0
    for name in names:
        # Both engines at once (two CPUs here), each in its own directory.
        started = {e: offline(env, tmp_path / e, e, [PCAPS / name], config) for e in ENGINES}
        (user_csv, user), (kernel_csv, kernel) = (started[e]() for e in ENGINES)
        assert user["pcap"]["packets_read"] > 0, f"{name}: nothing read"
        assert user_csv == kernel_csv, f"{name}: the flow records differ between the engines"
        diff = differences(user, kernel)
        assert not diff, f"{name}: {diff}"
        runs_with_rejects += user["pcap"]["rejected"] > 0
    print(corpus_line(), f"+ edges.pcap: {len(names)} captures identical in both engines")
    # The edge capture's frame one byte past the kernel's limit is refused by both.
    assert runs_with_rejects >= 1


@pytest.mark.parametrize("max_flows", [65536, 1024])
def test_kernel_aggregation_gives_the_same_flows_and_counters_in_both_engines(env, tmp_path, max_flows):
    """flows.aggregation "kernel": the programs' flow code and the sweep run on the kernel's map
    (--engine kernel) or on the user engine's store of it. Every capture of the corpus in one
    run (merged by time: one start-up, and more flows in the map at once), every packet event
    recorded (packet_sample_one_in 1: sampling draws random numbers); with the default map, and
    with one small enough that the sweep evicts. The rows' order is the maps' walk order, which
    differs; the rows must not."""
    names = [*captures(), edge_capture(tmp_path / "edges.pcap")]
    config = {"interfaces": INTERFACE, "capture": {"payload_bytes": 64},
              "flows": {"aggregation": "kernel", "packet_sample_one_in": 1, "max_flows": max_flows}}
    inputs = [PCAPS / name for name in names]
    started = {e: offline(env, tmp_path / e, e, inputs, config) for e in ENGINES}
    (user_csv, user), (kernel_csv, kernel) = (started[e]() for e in ENGINES)
    user_rows, kernel_rows = sorted(user_csv.splitlines()), sorted(kernel_csv.splitlines())
    flows = user["userspace"]["flows"]
    assert flows["aggregation"] == "kernel" and flows["ended"] > 0 and flows["capacity"] == max_flows
    assert len(user_rows) == flows["ended"] + 1  # and the header
    if max_flows < 65536:
        assert flows["evicted"] > 0, "the small map never filled: nothing tested the eviction"
    assert user_rows == kernel_rows, "the flow records differ between the engines"
    diff = differences(user, kernel)
    assert not diff, diff
    print(corpus_line(), f"+ edges.pcap: kernel aggregation, {max_flows} entries, {flows['ended']} flows "
          f"({flows['evicted']} evicted) identical in both engines")


def subscribe(env, endpoint, out_path):
    out = open(out_path, "w")
    proc = subprocess.Popen([env.sniffer_sub, "--connect", endpoint, "--topic", ""], stdout=out,
                            stderr=subprocess.DEVNULL)
    return proc, out


def published(out_path):
    """Packet events (the kernel clock aside) and flow records, in the order received."""
    events, flows = [], []
    for line in out_path.read_text().splitlines():
        message = json.loads(line)
        if "hook" in message:
            message.pop("monotonic_ns")
            events.append(message)
        elif "flow_id" in message:
            flows.append(message)
    return events, flows


def test_published_packet_events_are_identical_in_both_engines(env, tmp_path):
    inputs = [REPO_PCAPS / c for c in ("web", "dns", "ipv6", "tunnel", "vlan", "fragments", "malformed")]
    inputs.append(edge_capture(tmp_path / "edges.pcap"))
    results = {}
    for engine in ENGINES:
        endpoint = f"ipc://{tmp_path}/{engine}.sock"
        out_path = tmp_path / f"{engine}.jsonl"
        sub, out = subscribe(env, endpoint, out_path)
        time.sleep(0.2)
        config = {"interfaces": INTERFACE, "capture": {"payload_bytes": 128}, "publish": {"endpoint": endpoint}}
        _, report = offline(env, tmp_path / engine, engine, inputs, config)()
        user = report["userspace"]
        expected = user["events_published"] + user["flows"]["publish"]["published"]
        deadline = time.monotonic() + 20
        while sum(1 for _ in open(out_path)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        sub.terminate()
        sub.wait()
        out.close()
        assert user["events_unsubscribed"] == 0, user
        results[engine] = report, published(out_path)
    (user, (user_events, user_flows)), (kernel, (kernel_events, kernel_flows)) = (results[e] for e in ENGINES)
    assert not differences(user, kernel), differences(user, kernel)
    assert len(user_events) == user["userspace"]["events_published"] > 10_000
    assert any(e["payload_hex"] for e in user_events)
    for i, (u, k) in enumerate(zip(user_events, kernel_events)):
        assert u == k, f"packet event {i} differs: user {u}, kernel {k}"
    assert len(user_events) == len(kernel_events)
    assert user_flows == kernel_flows
