"""The two subscribers a user runs: build/sniffer-sub (C++) and examples/python_consumer.py.

Both print one JSON object per event; each is checked against one known UDP flow (IPv4 and
IPv6, WAN peer -> LAN peer through the gateway), and both must print the same objects.
"""
import fcntl
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
from contextlib import redirect_stderr

import pytest

from corpus import REPO_PCAPS
from e2e_support import PYTHON_CONSUMER, WORKERS, Addr, random_ports, udp_send, warm_up

DATAGRAMS = 4

# The gateway path: (interface, hook, direction) per request/reply pair, with the
# interface's tags as the subscribers print them.
SEEN = [("wan0", "xdp_ingress", "request"), ("lan0", "xdp_ingress", "reply"), ("wan0", "tc_egress", "reply")]
TAGS = {"wan0": ("wan", "host-based", True), "lan0": ("lan", "gateway", False)}


class Printer:
    """A subscriber process writing JSON lines to a file."""

    def __init__(self, cmd, workdir, name):
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def lines(self):
        text = self.out_path.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def stderr(self):
        return self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def printers(tmp_path):
    started = []

    def start(cmd, name):
        printer = Printer(cmd, tmp_path, name)
        started.append(printer)
        return printer

    yield start
    for printer in started:
        printer.stop()


def sniffer_sub_cmd(env, endpoint):
    return [env.sniffer_sub, "--connect", endpoint]


def python_consumer_cmd(env, endpoint, *extra):
    return [sys.executable, PYTHON_CONSUMER, "--proto-dir", env.proto_dir, "--connect", endpoint, *extra]


def known_flows():
    p = random_ports(4)
    return [(Addr.WAN4_PEER, p[0], Addr.LAN4_PEER, p[1], 4), (Addr.WAN6_PEER, p[2], Addr.LAN6_PEER, p[3], 6)]


def send_known_flows(lab, echo_servers, flows):
    echo_servers.start(lab.lan, [(dst, dport) for _, _, dst, dport, _ in flows])
    for src, sport, dst, dport, _ in flows:
        udp_send(lab, lab.wan, src, sport, dst, dport, DATAGRAMS, 32)


def flow_lines(lines, flows):
    ports = {p for _, sport, _, dport, _ in flows for p in (sport, dport)}
    return [e for e in lines if e["l4_protocol"] == 17 and e["src_port"] in ports and e["dst_port"] in ports]


def wait_lines(printer, flows, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(flow_lines(printer.lines(), flows)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def check_lines(lines, flows, ifindexes):
    """Exactly the expected JSON objects for the known flows, field by field."""
    expected = {}
    for src, sport, dst, dport, version in flows:
        for iface, hook, direction in SEEN:
            key = (iface, hook, src, sport, dst, dport) if direction == "request" else \
                (iface, hook, dst, dport, src, sport)
            expected[key] = DATAGRAMS
    got = {}
    for e in flow_lines(lines, flows):
        key = (e["interface"], e["hook"], e["src_addr"], e["src_port"], e["dst_addr"], e["dst_port"])
        got[key] = got.get(key, 0) + 1
        role, mode, wan_facing = TAGS[e["interface"]]
        assert (e["role"], e["mode"], e["is_wan_facing"]) == (role, mode, wan_facing), e
        assert e["ifindex"] == ifindexes[e["interface"]], e
        assert e["ip_version"] == (6 if ":" in e["src_addr"] else 4), e
        assert e["l4_protocol"] == 17, e
        assert e["payload_hex"] == "", e
    assert got == expected


def test_sniffer_sub_prints_known_flow(env, lab, start_daemon, printers, echo_servers):
    daemon = start_daemon()
    printer = printers(sniffer_sub_cmd(env, daemon.endpoint), "sniffer-sub")
    warm_up(lab, lambda: len(printer.lines()))
    flows = known_flows()
    send_known_flows(lab, echo_servers, flows)
    wait_lines(printer, flows, 2 * len(SEEN) * DATAGRAMS)
    daemon.stop()
    time.sleep(0.2)
    printer.stop()
    check_lines(printer.lines(), flows, {n: lab.ifindex(n) for n in TAGS})
    assert "missing before" not in printer.stderr(), printer.stderr()


def test_sniffer_sub_prints_flow_records(env, lab, start_daemon, printers, echo_servers):
    """--topic flow: one JSON object per flow record, addresses as text, per-direction stats
    nested; on SIGTERM a summary of the batches received."""
    daemon = start_daemon()
    printer = printers([*sniffer_sub_cmd(env, daemon.endpoint), "--topic", "flow"], "sniffer-sub-flows")
    time.sleep(0.5)  # slow joiner: flow records go out when flows end (here: at the daemon's stop)
    flows = known_flows()
    send_known_flows(lab, echo_servers, flows)
    daemon.stop()
    deadline = time.monotonic() + 5
    while len(printer.lines()) < len(flows) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert printer.stop() == 0
    records = printer.lines()
    for src, sport, dst, dport, version in flows:
        mine = [r for r in records if (r["src_addr"], r["src_port"], r["dst_addr"], r["dst_port"]) ==
                (src, sport, dst, dport)]
        assert len(mine) == 1, (src, sport, records)
        r = mine[0]
        assert (r["ip_version"], r["l4_protocol"], r["interface"], r["role"], r["mode"]) == \
            (version, 17, "wan0", "wan", "host-based"), r
        assert (r["fwd"]["packets"], r["bwd"]["packets"]) == (DATAGRAMS, DATAGRAMS), r
        assert r["fwd"]["payload_length"]["max"] == 32, r
        assert (r["direction"], r["end_reason"], r["is_update"]) == ("FLOW_DIRECTION_INBOUND", "FLOW_END_SHUTDOWN",
                                                                     False), r
    # At shutdown each worker holding some of these flows sends one batch; one sequence for all.
    batches = re.search(r"flow: (\d+) batch\(es\) received, 0 missing", printer.stderr())
    assert batches and 1 <= int(batches.group(1)) <= max(1, WORKERS), printer.stderr()


def test_python_consumer_prints_known_flow(env, lab, start_daemon, printers, echo_servers):
    daemon = start_daemon()
    printer = printers(python_consumer_cmd(env, daemon.endpoint), "python-consumer")
    warm_up(lab, lambda: len(printer.lines()))
    flows = known_flows()
    send_known_flows(lab, echo_servers, flows)
    wait_lines(printer, flows, 2 * len(SEEN) * DATAGRAMS)
    daemon.stop()
    time.sleep(0.2)
    assert printer.stop() == 0, printer.stderr()  # SIGTERM: a clean exit
    check_lines(printer.lines(), flows, {n: lab.ifindex(n) for n in TAGS})
    # No gap and no decode error; joining after the first batch (slow joiner) is only noted.
    problems = [line for line in printer.stderr().splitlines() if "joined sensor" not in line]
    assert problems == [], printer.stderr()


def test_python_consumer_and_sniffer_sub_agree(env, lab, start_daemon, printers, echo_servers):
    """Both subscribers decode the same events into the same JSON objects."""
    daemon = start_daemon()
    cpp = printers(sniffer_sub_cmd(env, daemon.endpoint), "sniffer-sub")
    py = printers(python_consumer_cmd(env, daemon.endpoint), "python-consumer")
    warm_up(lab, lambda: min(len(cpp.lines()), len(py.lines())))
    flows = known_flows()
    send_known_flows(lab, echo_servers, flows)
    wait_lines(cpp, flows, 2 * len(SEEN) * DATAGRAMS)
    wait_lines(py, flows, 2 * len(SEEN) * DATAGRAMS)
    daemon.stop()
    cpp.stop()
    py.stop()
    cpp_lines, py_lines = flow_lines(cpp.lines(), flows), flow_lines(py.lines(), flows)
    assert len(cpp_lines) == 2 * len(SEEN) * DATAGRAMS
    assert py_lines == cpp_lines


def test_python_consumer_count_exits(env, lab, start_daemon, printers):
    """--count N: exits by itself (status 0) after exactly N events."""
    daemon = start_daemon()
    printer = printers(python_consumer_cmd(env, daemon.endpoint, "--count", "3", "--timeout", "20"), "count")
    warm_up(lab, lambda: len(printer.lines()))
    deadline = time.monotonic() + 10
    while printer.proc.poll() is None and time.monotonic() < deadline:
        lab.ping(lab.wan, Addr.WAN4_GW, count=1)
    assert printer.proc.wait(5) == 0, printer.stderr()
    assert len(printer.lines()) == 3
    daemon.stop()


def test_python_consumer_reports_sequence_gaps(env):
    """The consumer's gap detection (stderr), fed with batches directly."""
    spec = importlib.util.spec_from_file_location("python_consumer", PYTHON_CONSUMER)
    consumer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(consumer)
    tracker = consumer.GapTracker()
    err = io.StringIO()
    with redirect_stderr(err):
        for sequence, start in ((1, 100), (2, 100), (5, 100), (6, 100), (1, 200)):
            tracker.check(env.pb2.EventBatch(sensor_id="s", sequence=sequence, sensor_start_ns=start))
    assert tracker.missing == 2
    messages = err.getvalue().splitlines()
    assert messages == ["python_consumer: 2 batch(es) missing before sequence 5 (sensor 's')",
                        "python_consumer: sensor 's' restarted (sequence starts over at 1)"], messages


def test_offline_replay_waits_for_its_subscriber(env, tmp_path, printers):
    """--read-pcap --wait-subscriber: the records of a capture reach a subscriber that connects
    as the daemon starts, every one; without a subscriber the wait ends with a warning."""
    capture = REPO_PCAPS / "web" / "tls12_handshake.pcap"
    endpoint = f"ipc://{tmp_path}/offline.sock"
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "publish": {"endpoint": endpoint}}))
    printer = printers([*sniffer_sub_cmd(env, endpoint), "--topic", ""], "sniffer-sub-offline")
    done = subprocess.run([env.sniffer, "--config", config, "--read-pcap", capture, "--wait-subscriber", "10"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    user = json.loads(done.stdout.splitlines()[-1])["userspace"]
    assert user["events_unsubscribed"] == 0 and user["flows"]["publish"]["unsubscribed"] == 0, user
    deadline = time.monotonic() + 5
    expected = user["events_published"] + user["flows"]["publish"]["published"]
    while len(printer.lines()) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    printer.stop()
    lines = printer.lines()
    assert len([x for x in lines if "hook" in x]) == user["events_published"] > 0
    assert len([x for x in lines if "flow_id" in x]) == user["flows"]["publish"]["published"] > 0

    alone = subprocess.run([env.sniffer, "--config", config, "--read-pcap", capture, "--wait-subscriber", "0.3"],
                           capture_output=True, text=True, timeout=30)
    assert alone.returncode == 0 and "--wait-subscriber: no subscriber" in alone.stderr, alone.stderr
    user = json.loads(alone.stdout.splitlines()[-1])["userspace"]
    assert user["events_unsubscribed"] == user["events_published"] > 0, user


def test_sniffer_sub_prints_only_json_when_a_stats_report_is_not_json(env, tmp_path):
    """Red team R16-9: a StatsReport whose report_json is not JSON (a squatter on the sensor's
    port, a peer of a plaintext stream) was printed as `"report":<discarded>`, breaking a JSON-lines
    reader downstream. Now it is said on stderr and skipped, as other undecodable messages are,
    and the good report after it is printed."""
    messages = [[b"stats", env.pb2.StatsReport(sensor_id=sensor, timestamp_ns=1, report_json=report).SerializeToString()]
                for sensor, report in (("evil", "not json"), ("good", '{"kernel": {}}'))]
    code, out, err = _publish_to_sniffer_sub(env, tmp_path, messages)
    out, err = out.decode(), err.decode()
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"stats": {"sensor_id": "good", "timestamp_ns": 1, "report": {"kernel": {}}}}], out
    assert 'cannot decode a message on topic "stats"' in err and "its report is not JSON" in err, err
    assert code == 0, err


def _publish_to_sniffer_sub(env, tmp_path, messages, *args):
    """Runs sniffer-sub (--timeout 4) against a PUB socket of ours that sends `messages`
    ([topic, body] each) once it subscribes; returns (exit code, stdout, stderr)."""
    zmq = env.zmq
    endpoint = f"ipc://{tmp_path}/hostile.sock"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 1000)
    pub.bind(endpoint)
    sub = subprocess.Popen([env.sniffer_sub, "--connect", endpoint, "--topic", "", "--timeout", "4", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert pub.poll(5000), "sniffer-sub did not subscribe"
        pub.recv()
        for message in messages:
            pub.send_multipart(message)
        out, err = sub.communicate(timeout=30)
    finally:
        sub.kill()
        pub.close()
        ctx.term()
    return sub.returncode, out, err


def test_sniffer_sub_escapes_a_publishers_topic(env, tmp_path):
    """Red team R17-6: a topic it cannot decode went to stderr raw, so whatever sniffer-sub
    connected to could set the terminal's title, clear it or overwrite a line. Now every byte
    outside printable ASCII is shown as \\xNN."""
    topic = b"pkt\x1b]0;owned-title\x07\x1b[2J\x1b[31mFAKE: sensor ok\x1b[0m\r\nsniffer-sub: all good\\x41"
    code, out, err = _publish_to_sniffer_sub(env, tmp_path, [[topic, b"\xff"]])
    assert out == b"", out
    shown = (b'cannot decode a message on topic "pkt\\x1b]0;owned-title\\x07\\x1b[2J\\x1b[31mFAKE: sensor ok'
             b'\\x1b[0m\\x0d\\x0asniffer-sub: all good\\x5cx41" (1 bytes)')
    assert shown in err, err
    assert not any(b < 0x20 and b != 0x0a or b >= 0x7f for b in err), err
    assert err.count(b"\n") == 1, err


def test_sniffer_sub_refuses_a_message_over_its_bound(env, tmp_path):
    """Red team R17-6: sniffer-sub took a message of any size (a 400 MB frame was received whole).
    Now it disconnects a publisher whose message is over --max-message-bytes (by default 128 MiB,
    above the sensor's largest batch), says so, and takes what comes below the bound."""
    good = env.pb2.StatsReport(sensor_id="good", timestamp_ns=1, report_json='{"kernel": {}}').SerializeToString()
    huge = env.pb2.StatsReport(sensor_id="big", timestamp_ns=2,
                               report_json='{"x": "' + "a" * (129 << 20) + '"}').SerializeToString()
    code, out, err = _publish_to_sniffer_sub(env, tmp_path, [[b"stats", huge]])
    assert out == b"" and code == 1, (code, out[:200], err)
    assert b"sent a message larger than --max-message-bytes 134217728" in err, err
    assert b"cannot decode" not in err, err
    # A smaller bound, given: a message under it is printed, one over it refused.
    code, out, err = _publish_to_sniffer_sub(env, tmp_path, [[b"stats", good], [b"stats", huge[: 1 << 20]]],
                                             "--max-message-bytes", "65536")
    assert [json.loads(line)["stats"]["sensor_id"] for line in out.splitlines()] == ["good"], (out[:200], err)
    assert b"larger than --max-message-bytes 65536" in err, err
    assert b"cannot decode" not in err, err


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def full_pipe():
    """A pipe (read end, write end) whose buffer is already full: a process writing to it blocks, as
    sniffer-sub does under `| less` at a full screen."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: one page
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)  # the file description is shared: sniffer-sub must block, not fail
    return read_end, write_end


def test_sniffer_sub_holds_at_most_its_budget_while_its_output_is_stalled(env, tmp_path):
    """Red team R18-3: --max-message-bytes bounded one message, not how many sniffer-sub held: with
    its output stalled, libzmq kept receiving up to ZMQ_RCVHWM (1000) messages of up to 128 MiB each.
    Now it holds 1 GiB / --max-message-bytes of them (8 by default), so 1 GiB at most."""
    zmq = env.zmq
    endpoint = f"ipc://{tmp_path}/stalled.sock"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.SNDHWM, 0)  # ours queues whatever sniffer-sub does not take
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    read_end, write_end = full_pipe()
    sub = subprocess.Popen([env.sniffer_sub, "--connect", endpoint], stdout=write_end, stderr=write_end)
    peak_kib = 0
    try:
        assert pub.poll(5000), "sniffer-sub did not subscribe"
        pub.recv()
        pub.send_multipart([b"pkt", b"\xff" * 8])  # cannot be decoded: it blocks writing so
        big = bytes(100 << 20)  # under the 128 MiB bound
        for _ in range(16):
            pub.send_multipart([b"pkt", big], copy=False)
        for _ in range(30):
            time.sleep(0.2)
            peak_kib = max(peak_kib, rss_kib(sub.pid))
        assert sub.poll() is None
    finally:
        sub.kill()
        sub.wait()
        os.close(read_end)
        os.close(write_end)
        pub.close()
        ctx.term()
    assert peak_kib < (1 << 20), f"sniffer-sub held {peak_kib} KiB"  # the base: 16 x 100 MiB
    assert "ZMQ_RCVHWM" in subprocess.run([env.sniffer_sub, "--help"], capture_output=True, text=True).stdout
