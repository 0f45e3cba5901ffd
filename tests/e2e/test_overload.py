"""Overload: every packet the daemon could not deliver is counted, exactly.

1. Ring full: the smallest ring buffer (4096 bytes: 36 records of 112 bytes), the daemon's
   drain loop paused (SIGSTOP) while N UDP datagrams cross wan0. The kernel counts what
   did not fit as ringbuf_full; after SIGCONT the daemon reads what did.
2. High-water mark: a subscriber with a tiny receive queue stops reading while N UDP
   datagrams cross wan0. The daemon keeps draining the ring (capture never stalls: no
   ring-full drop, and its counters reach N while the subscriber still reads nothing),
   refuses the batches that no longer fit (counted, their sequence numbers skipped),
   and delivers the rest once the subscriber reads again.

In both, sent = delivered + counted drops, from outside the sensor (the sender's count)
to what a real subscriber decoded.

The datagrams go WAN peer -> LAN peer, to a socket that never reads (no echo, no ICMP
error): each is seen once, at wan0/xdp_ingress, and leaves through lan0 (no hook there).
"""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from e2e_support import Addr, Subscriber, random_ports, scrape, warm_up

# ABI: a record is 104 bytes; a ring sample adds an 8-byte header (rounded up to 8).
SAMPLE_BYTES = 104 + 8
RING_MIN = 4096  # the smallest capture.ring_buffer_bytes (src/config/config.cpp): one page
RING_RECORDS = RING_MIN // SAMPLE_BYTES  # 36 records fit

HOOKS = {"xdp_ingress": 1, "tc_ingress": 2, "tc_egress": 3}
UDP = 17

# Sends COUNT datagrams from a fixed 5-tuple as fast as it can. IP_RECVERR makes a
# datagram the local stack could not queue (ENOBUFS: e.g. the veth ring full) an error
# instead of a silent loss, and it is sent again: "sent" is what left the sender.
BLAST = r"""
import errno, json, socket, sys, time
src, sport, dst, dport, count, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 11, 1)  # IP_RECVERR
s.bind((src, sport))
payload = b"x" * size
sent = retries = 0
while sent < count:
    try:
        s.sendto(payload, (dst, dport))
        sent += 1
    except OSError as e:
        if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
            raise
        retries += 1
        time.sleep(0.0005)
print(json.dumps({"sent": sent, "retries": retries}))
"""

# Binds a UDP port and never reads it: datagrams beyond its buffer are dropped by the
# LAN peer's stack silently (no ICMP error that would add records).
SINK = r"""
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
time.sleep(300)
"""



@pytest.fixture
def sink(lab):
    """sink(addr, port): a UDP socket in the LAN peer that never reads."""
    procs = []

    def start(addr, port):
        proc = lab.popen(lab.lan, [sys.executable, "-c", SINK, addr, port], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready", "UDP sink did not start"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(5)


def blast(lab, count, sport, dport, size=32):
    result = lab.exec(lab.wan, [sys.executable, "-c", BLAST, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, dport, count, size],
                      timeout=120)
    summary = json.loads(result.stdout)
    assert summary["sent"] == count, summary
    return summary


def rx_packets(lab, ns, ifname="eth0"):
    links = json.loads(lab.exec(ns, ["ip", "-s", "-j", "link", "show", ifname]).stdout)
    return links[0]["stats64"]["rx"]["packets"]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}", pytrace=False)
        time.sleep(0.05)


def process_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def packets_total(block):
    return sum(n for by_class in block["packets"].values() for n in by_class.values())


def check_kernel_identities(report):
    """Per interface and in total: packets seen = records + ringbuf_full + filtered, and
    every record emitted was read by the daemon (none rejected)."""
    kernel, user = report["kernel"], report["userspace"]
    for name, block in kernel["interfaces"].items():
        assert packets_total(block) == block["records"] + block["ringbuf_full"] + block["filtered"], (name, report)
    assert packets_total(kernel) == kernel["records"] + kernel["ringbuf_full"] + kernel["filtered"], report
    assert kernel["unconfigured"] == 0, report
    assert kernel["records"] == sum(b["records"] for b in kernel["interfaces"].values()), report
    assert kernel["records"] == user["records_received"], report
    assert all(n == 0 for n in user["decode_errors"].values()), report
    # Every record the daemon read became an event: published or dropped at the HWM.
    assert user["records_received"] == user["events_published"] + user["events_dropped_hwm"], report


def test_ring_full_drops_are_counted_exactly(env, lab, start_daemon, subscribe, sink):
    count = 2000  # >> the 36 records the ring holds
    sport, dport = random_ports(2)
    daemon = start_daemon(capture={"ring_buffer_bytes": RING_MIN, "wakeup_bytes": 0}, pin_path="",
                          metrics={"listen": ""})
    pid = daemon.proc.pid  # `ip netns exec` execs the daemon in place
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "sniffer"
    sub = subscribe(daemon.endpoint)
    warm_up(lab, sub.count)
    sink(Addr.LAN4_PEER, dport)

    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: process_state(pid) == "T", 5, "the daemon to stop (SIGSTOP)")
        lan_before = rx_packets(lab, lab.lan)
        blast(lab, count, sport, dport)
        # Every datagram went through wan0's XDP program (and the ring, or its drop
        # counter) once the LAN peer has received it.
        wait_until(lambda: rx_packets(lab, lab.lan) - lan_before >= count, 20,
                   f"the LAN peer to receive {count} datagrams")
    finally:
        os.kill(pid, signal.SIGCONT)

    def ours(events):
        return [e for e in events if e.l4_protocol == UDP and (e.src_port, e.dst_port) == (sport, dport)]

    # The ring's content reaches the subscriber within the batch latency.
    wait_until(lambda: len(ours(sub.snapshot())) >= 1, 10, "the records kept in the ring")
    report = daemon.stop()
    sub.stop()
    kernel, user = report["kernel"], report["userspace"]
    wan = kernel["interfaces"]["wan0"]
    print(f"ring {RING_MIN} bytes ({RING_RECORDS} records): sent {count}, delivered {len(ours(sub.events))}, "
          f"ringbuf_full {wan['ringbuf_full']}")

    check_kernel_identities(report)
    # Sent = seen by the kernel, at the one hook on the path.
    assert wan["packets"]["xdp_ingress"]["udp"] == count, report
    for iface, block in kernel["interfaces"].items():
        for hook, by_class in block["packets"].items():
            if (iface, hook) != ("wan0", "xdp_ingress"):
                assert by_class["udp"] == 0, (iface, hook, report)
    # Nearly all of them found the ring full; at most a ring's worth (plus what the
    # daemon read while the datagrams still arrived) got through.
    assert wan["ringbuf_full"] > 0, report
    assert wan["ringbuf_full"] >= count - 2 * RING_RECORDS, report
    assert kernel["filtered"] == 0, report

    # Sent = delivered to the subscriber + counted drops. Ours, from the sender's count:
    # every datagram is an event at wan0/xdp_ingress or a ring-full drop there. The ring
    # was also full for any other packet that crossed wan0 during the pause (the kernel
    # counts ring-full drops per interface, not per protocol): at most those.
    delivered_ours = Counter((e.interface, e.hook) for e in ours(sub.events))
    assert set(delivered_ours) == {("wan0", HOOKS["xdp_ingress"])}, delivered_ours
    ours_dropped = count - delivered_ours[("wan0", HOOKS["xdp_ingress"])]
    other_at_wan = packets_total(wan) - count
    assert ours_dropped <= wan["ringbuf_full"] <= ours_dropped + other_at_wan, (ours_dropped, report)
    # Every packet the kernel saw, per interface and hook: an event the subscriber decoded,
    # a counted drop, or an event published before the subscription arrived (counted too).
    delivered = Counter((e.interface, e.hook) for e in sub.events)
    for iface, block in kernel["interfaces"].items():
        for hook, by_class in block["packets"].items():
            assert delivered[(iface, HOOKS[hook])] <= sum(by_class.values()), (iface, hook, report)
    missing = {iface: packets_total(block) - block["ringbuf_full"] - block["filtered"]
               - sum(n for (i, _), n in delivered.items() if i == iface)
               for iface, block in kernel["interfaces"].items()}
    assert all(n >= 0 for n in missing.values()), (missing, report)
    assert sum(missing.values()) == user["events_unsubscribed"], (missing, report)

    # The subscriber decoded every event published to it (no HWM drop: send_hwm is large).
    assert user["events_dropped_hwm"] == 0, report
    assert len(sub.events) == user["events_published"] - user["events_unsubscribed"], report
    first = sub.batches[0].sequence
    assert [b.sequence for b in sub.batches] == list(range(first, first + len(sub.batches)))
    assert user["batches_unsubscribed"] == first - 1, report


# --- High-water mark -----------------------------------------------------------------------
#
# Where batches wait while the subscriber does not read (ipc://, one subscriber):
#   the XPUB's pipe to the subscriber  SEND_HWM messages (then a send fails: a counted drop)
#   the sender's ZeroMQ engine          its encoder buffer (8 KiB)
#   the kernel's unix stream socket     what the sender's socket buffer admits
#   the receiver's ZeroMQ engine        its decoder buffer (8 KiB)
#   the SUB socket's pipe               RCV_HWM messages
# A batch of BATCH = 16 events of our 32-byte datagrams (no snippet) is 1,393 bytes.
# Measured here: 60 to 100 batches (up to 1,600 events) were still delivered after the
# subscriber had stopped reading (10 + 10 in the two pipes, the rest in the engines and
# the socket buffer); even ten times that is below COUNT = 20,000 events (1,250 full
# batches), so more than 1,100 batches are refused, certainly. The test prints the
# figures of its run.
SEND_HWM = 10
RCV_HWM = 10
BATCH = 16
COUNT = 20000


class PausableSubscriber:
    """A SUB socket read in the test's thread, only when asked to."""

    def __init__(self, env, endpoint):
        self.env = env
        self.ctx = env.zmq.Context()
        self.sock = self.ctx.socket(env.zmq.SUB)
        self.sock.setsockopt(env.zmq.LINGER, 0)
        self.sock.setsockopt(env.zmq.RCVHWM, RCV_HWM)
        self.sock.setsockopt(env.zmq.SUBSCRIBE, b"pkt")
        self.sock.connect(endpoint)
        self.batches = []  # (sequence, events)
        self.sizes = []  # serialized batch bytes

    def read(self, quiet, timeout):
        """Receives until nothing arrived for `quiet` seconds (at most `timeout`)."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            if not self.sock.poll(20):
                continue
            topic, body = self.sock.recv_multipart()
            assert topic == b"pkt"
            batch = self.env.pb2.EventBatch()
            batch.ParseFromString(body)
            self.batches.append((batch.sequence, list(batch.events)))
            self.sizes.append(len(body))
            last = time.monotonic()

    def events(self):
        return [e for _, events in self.batches for e in events]

    def close(self):
        self.sock.close()
        self.ctx.term()




def test_hwm_drops_are_counted_and_capture_never_stalls(env, lab, start_daemon, sink):
    port = 9750 + random_ports(1)[0] % 1000
    sport, dport = random_ports(2)
    # all_or_none: a batch reaches every subscriber or none, so the counters are exact.
    daemon = start_daemon(publish={"send_hwm": SEND_HWM, "batch_max_events": BATCH, "slow_subscriber": "all_or_none"},
                          pin_path="", metrics={"listen": f"127.0.0.1:{port}"})
    sink(Addr.LAN4_PEER, dport)
    sub = PausableSubscriber(env, daemon.endpoint)
    try:
        # Subscribed and receiving (ZeroMQ's slow joiner), then the subscriber stops reading.
        def warm():
            lab.ping(lab.wan, Addr.WAN4_GW, count=1)
            sub.read(quiet=0.3, timeout=1)
            return sub.batches
        wait_until(warm, 15, "the subscriber's first batch")
        blast(lab, COUNT, sport, dport)

        # Capture never stalls: with the subscriber still not reading, the daemon reads every
        # record from the ring, and refuses what its subscriber's queue cannot take.
        hwm_key = 'sniffer_dropped_total{stage="publish",reason="hwm",topic="pkt"}'
        pkt = 'sniffer_packets_total{interface="wan0",hook="xdp_ingress",class="udp"}'

        def drained():
            _, m = scrape(lab, port)  # refreshed every second; empty before the first refresh
            received = m.get("sniffer_records_received_total", -1)
            handled = m.get('sniffer_published_total{topic="pkt"}', 0) + m.get(hwm_key, 0)
            return m if m.get(pkt) == COUNT and received == handled and received >= COUNT else None
        paused = wait_until(drained, 30, f"the daemon to read and publish or drop {COUNT} records")
        assert paused[hwm_key] > 0, paused
        assert paused['sniffer_dropped_total{stage="kernel",reason="ring_full",interface="wan0"}'] == 0, paused

        # The subscriber reads again: what was queued, then nothing more.
        queued_before = len(sub.batches)
        sub.read(quiet=1.0, timeout=60)
        buffered = len(sub.batches) - queued_before
        # The batches refused after the last one received show as a gap only before the
        # next one: a ping makes one.
        received_before = len(sub.batches)

        def tail():
            lab.ping(lab.wan, Addr.WAN4_GW, count=1)
            sub.read(quiet=0.3, timeout=1)
            return len(sub.batches) > received_before
        wait_until(tail, 15, "a batch after the subscriber read again")
        report = daemon.stop()
        sub.read(quiet=0.5, timeout=5)  # the final batch (if any) sent at shutdown
    finally:
        sub.close()

    kernel, user = report["kernel"], report["userspace"]
    events = sub.events()
    ours = [e for e in events if e.l4_protocol == UDP and (e.src_port, e.dst_port) == (sport, dport)]
    sequences = [s for s, _ in sub.batches]
    gaps = sum(b - a - 1 for a, b in zip(sequences, sequences[1:]))
    print(f"hwm: sent {COUNT}, delivered {len(ours)} in {len(sub.batches)} batches ({buffered} had waited in the "
          f"queues), dropped {user['events_dropped_hwm']} events in {user['batches_dropped_hwm']} batches, "
          f"gaps {gaps}; a full batch is {max(sub.sizes)} bytes")

    check_kernel_identities(report)
    assert kernel["ringbuf_full"] == 0, report
    assert kernel["interfaces"]["wan0"]["packets"]["xdp_ingress"]["udp"] == COUNT, report
    assert user["events_dropped_hwm"] > 0 and user["batches_dropped_hwm"] > 0, report
    # Produced = received + counted drops (HWM; before the subscription, none wanted).
    assert len(events) == user["events_published"] - user["events_unsubscribed"], report
    assert user["records_received"] == len(events) + user["events_dropped_hwm"] + user["events_unsubscribed"], report
    # From outside: every datagram sent is an event received (at its one hook) or one in
    # a refused batch. The refused batches may also hold other packets' events (the warm-up
    # and tail pings are read, but a stray packet could cross wan0 during the blast).
    assert {(e.interface, e.hook) for e in ours} == {("wan0", HOOKS["xdp_ingress"])}
    others = user["records_received"] - COUNT
    assert COUNT - len(ours) <= user["events_dropped_hwm"] <= COUNT - len(ours) + others, report
    # The sequence numbers: increasing, the gaps exactly the refused batches, the first
    # one after the batches sent before the subscription arrived.
    assert sequences == sorted(set(sequences)), sequences
    assert gaps == user["batches_dropped_hwm"], (gaps, report)
    assert sequences[0] == user["batches_unsubscribed"] + 1, report
    assert sequences[-1] == user["batches_published"] + user["batches_dropped_hwm"], report
    assert len(sub.batches) == user["batches_published"] - user["batches_unsubscribed"], report


PACED = r"""
import socket, sys, time
src, sport, dst, dport, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
for i in range(count):
    s.sendto(b"p" * 32, (dst, dport))
    if i % 50 == 49:
        time.sleep(0.01)
"""


@pytest.mark.parametrize("mode", ["isolate", "all_or_none"])
def test_a_stuck_subscriber_costs_the_others_nothing_when_isolated(env, lab, start_daemon, sink, mode):
    """A subscriber that connects and never reads (a stalled detector, or anyone who can reach
    the endpoint) next to one that reads: with slow_subscriber "isolate" (the default) the
    reader gets every event and no gap in its sequence numbers, and the daemon still counts
    the batches the stuck one lost; with "all_or_none" the reader loses them too."""
    sport, dport = random_ports(2)
    # A queue of 200 batches: the reader's own (its I/O thread empties it at once) never
    # fills; the stuck one's does, behind its socket buffers, within the blast.
    daemon = start_daemon(publish={"send_hwm": 200, "batch_max_events": BATCH, "slow_subscriber": mode},
                          pin_path="")
    sink(Addr.LAN4_PEER, dport)
    stuck = PausableSubscriber(env, daemon.endpoint)
    reader = Subscriber(env, daemon.endpoint)
    try:
        warm_up(lab, reader.count)
        stuck.read(quiet=0.3, timeout=2)  # its slow joiner: subscribed; from now on it never reads
        assert stuck.batches, "the stuck subscriber never subscribed"
        # Paced (~5,000 a second): the reader keeps up; the stuck one fills its queue anyway.
        lab.exec(lab.wan, [sys.executable, "-c", PACED, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, dport, COUNT],
                 timeout=60)
        reader.wait_for(lambda evs: sum(e.src_port == sport for e in evs) >= COUNT, timeout=15)
        report = daemon.stop()
        reader.stop()
    finally:
        stuck.close()

    user = report["userspace"]
    ours = [e for e in reader.snapshot() if (e.src_port, e.dst_port) == (sport, dport)]
    sequences = [b.sequence for b in reader.batches]
    gaps = sum(b - a - 1 for a, b in zip(sequences, sequences[1:]))
    print(f"{mode}: reader got {len(ours)} of {COUNT} in {len(sequences)} batches, gaps {gaps}; "
          f"dropped_hwm {user['batches_dropped_hwm']} batches")
    assert user["batches_dropped_hwm"] > 0, "the stuck subscriber's queue never filled: no test"
    if mode == "isolate":
        assert len(ours) == COUNT and gaps == 0, (len(ours), gaps)
    else:  # the reader got what was sent before the stuck queue filled, then nothing
        assert len(ours) < COUNT, len(ours)
