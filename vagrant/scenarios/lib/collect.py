#!/usr/bin/env python3
"""collect.py: the scenarios' ZeroMQ subscriber, run on the defender (the sensor host).

Subscribes to both topics of the sensor ("pkt": EventBatch, "flow": FlowBatch), decodes
every batch with the generated protobuf module and tallies what it received:

- events, counted per (interface, hook, L4 protocol, source, destination, TCP flags or
  ICMP type): enough for every scenario's per-interface figures, without keeping
  hundreds of thousands of events in memory;
- every flow record, with the fields the scenarios compare;
- per TCP connection seen at an XDP hook (one direction each, keyed by its 4-tuple), from the
  events' own TCP sequence numbers: the sequence space its payload covered (the bytes the
  sender's application wrote, counted once), the payload bytes on the wire, and the
  segments and bytes that repeated sequence space already seen (retransmissions);
- batches and sequence gaps per topic.

It creates DIR/ready as soon as the first event arrives (the scenario's warm-up waits for
it: ZeroMQ's slow joiner), and on SIGTERM or SIGINT keeps receiving until nothing arrived
for --quiet seconds, then writes DIR/collected.json and exits 0.

    python3 collect.py --endpoint ipc:///run/sniffer/lab.sock --proto-dir build/proto --out DIR
"""
import argparse
import ipaddress
import json
import os
import signal
import sys
import time
from collections import Counter

HOOKS = {0: "unspecified", 1: "xdp_ingress", 2: "tc_ingress", 3: "tc_egress"}
SYN = 0x02


class SeqTracker:
    """One direction of a TCP connection, from its events' sequence numbers (mod 2^32)."""
    __slots__ = ("base", "covered", "wire", "retrans_segments", "retrans_bytes", "segments")

    def __init__(self, base):
        self.base = base  # the sequence number of the first payload byte (ISN + 1 after a SYN)
        self.covered = self.wire = self.retrans_segments = self.retrans_bytes = self.segments = 0

    def add(self, seq, length):
        start = (seq - self.base) & 0xFFFFFFFF
        end = start + length
        self.segments += 1
        self.wire += length
        if start < self.covered:  # repeats sequence space already seen
            self.retrans_segments += 1
            self.retrans_bytes += min(end, self.covered) - start
        self.covered = max(self.covered, end)

    def as_dict(self):
        return {"covered": self.covered, "wire": self.wire, "segments": self.segments,
                "retrans_segments": self.retrans_segments, "retrans_bytes": self.retrans_bytes}


def addr(raw):
    return str(ipaddress.ip_address(raw)) if raw else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--proto-dir", required=True, help="directory of sniffer_pb2.py")
    parser.add_argument("--out", required=True, help="directory for ready and collected.json")
    parser.add_argument("--quiet", type=float, default=1.0, help="seconds without a message that end the drain")
    parser.add_argument("--max-seconds", type=float, default=600, help="gives up after this long")
    args = parser.parse_args()

    sys.path.insert(0, args.proto_dir)
    import zmq
    import sniffer_pb2 as pb

    direction_names = {v.number: v.name.replace("FLOW_DIRECTION_", "").lower()
                       for v in pb.DESCRIPTOR.enum_types_by_name["FlowDirection"].values}
    end_names = {v.number: v.name.replace("FLOW_END_", "").lower()
                 for v in pb.DESCRIPTOR.enum_types_by_name["FlowEndReason"].values}

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(time.monotonic()))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(time.monotonic()))

    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)  # never drop on our side
    sock.setsockopt(zmq.SUBSCRIBE, b"pkt")
    sock.setsockopt(zmq.SUBSCRIBE, b"flow")
    sock.connect(args.endpoint)

    events = Counter()
    tcp_seq = {}  # (src, sport, dst, dport) -> SeqTracker, at XDP hooks only
    flows = []
    batches = Counter()
    gaps = Counter()
    last_seq = {}
    sensor_starts = set()
    errors = []
    n_events = 0
    ready_path = os.path.join(args.out, "ready")
    started = last_message = time.monotonic()

    while True:
        now = time.monotonic()
        if stopping and now - max(last_message, stopping[0]) >= args.quiet:
            break
        if now - started > args.max_seconds:
            errors.append(f"gave up after {args.max_seconds} s without a stop signal")
            break
        try:
            if not sock.poll(50):
                continue
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.error.ZMQError as e:  # EINTR from a signal
            if e.errno == zmq.EAGAIN or e.errno == getattr(zmq, "EINTR", 4):
                continue
            raise
        last_message = time.monotonic()
        if len(frames) != 2 or frames[0] not in (b"pkt", b"flow"):
            errors.append(f"unexpected message: {[f[:16] for f in frames]!r}")
            continue
        topic = frames[0].decode()
        batch = pb.EventBatch() if topic == "pkt" else pb.FlowBatch()
        batch.ParseFromString(frames[1])
        batches[topic] += 1
        sensor_starts.add(batch.sensor_start_ns)
        key = (topic, batch.sensor_start_ns)
        if key in last_seq and batch.sequence != last_seq[key] + 1:
            gaps[topic] += batch.sequence - last_seq[key] - 1
        last_seq[key] = batch.sequence
        if topic == "pkt":
            for e in batch.events:
                detail = e.tcp_flags if e.l4_protocol == 6 else (e.icmp_type if e.l4_protocol in (1, 58) else 0)
                src, dst = addr(e.src_addr), addr(e.dst_addr)
                events[(e.interface, HOOKS.get(e.hook, str(e.hook)), e.l4_protocol, src, dst, detail)] += 1
                if e.l4_protocol == 6 and e.hook == 1 and not e.parse_flags:
                    length = e.ip_total_length - e.l3_header_length - e.l4_header_length
                    key = (src, e.src_port, dst, e.dst_port)
                    tracker = tcp_seq.get(key)
                    if e.tcp_flags & SYN:
                        tcp_seq[key] = SeqTracker((e.tcp_seq + 1) & 0xFFFFFFFF)
                    elif length > 0:
                        if tracker is None:
                            tracker = tcp_seq[key] = SeqTracker(e.tcp_seq)
                        tracker.add(e.tcp_seq, length)
            if n_events == 0 and batch.events:
                open(ready_path, "w").close()
            n_events += len(batch.events)
        else:
            for f in batch.flows:
                flows.append({
                    "flow_id": f.flow_id, "src": addr(f.src_addr), "dst": addr(f.dst_addr),
                    "sport": f.src_port, "dport": f.dst_port, "proto": f.l4_protocol,
                    "interface": f.interface, "direction": direction_names.get(f.direction, str(f.direction)),
                    "conn_state": f.conn_state, "history": f.history,
                    "end_reason": end_names.get(f.end_reason, str(f.end_reason)), "is_update": f.is_update,
                    "fwd_packets": f.fwd.packets, "fwd_bytes": f.fwd.bytes, "fwd_payload": f.fwd.payload_bytes,
                    "bwd_packets": f.bwd.packets, "bwd_bytes": f.bwd.bytes, "bwd_payload": f.bwd.payload_bytes,
                })

    sock.close()
    ctx.term()
    result = {
        "events_received": n_events,
        "flows_received": len(flows),
        "batches": dict(batches),
        "sequence_gaps": {t: gaps.get(t, 0) for t in ("pkt", "flow")},
        "sensor_starts": len(sensor_starts),
        "errors": errors,
        "events": [[*k, n] for k, n in sorted(events.items())],
        "flows": flows,
        "tcp_seq": [[*k, t.as_dict()] for k, t in tcp_seq.items() if t.segments],
    }
    tmp = os.path.join(args.out, "collected.json.tmp")
    with open(tmp, "w") as out:
        json.dump(result, out)
    os.rename(tmp, os.path.join(args.out, "collected.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
