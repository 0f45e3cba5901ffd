#!/usr/bin/env python3
"""Example consumer of a sniffer sensor's packet events: the ML-detector side.

The sensor publishes on a ZeroMQ PUB (XPUB) socket. Every message has two frames:

    [b"pkt", EventBatch]        EventBatch = protobuf message from proto/sniffer.proto

An EventBatch carries the sensor id, a sequence number (+1 per batch, starting at 1,
so a missing number is a lost batch), the sensor's start time (a new value means the
sensor restarted and its sequence started over) and the PacketEvents. Each event is
one packet seen by one hook (XDP ingress, TC ingress or TC egress) of one interface,
tagged with the interface's name, ifindex, role (wan/lan), mode (host-based/gateway)
and is_wan_facing. Addresses are 4 or 16 bytes in network byte order.

This example prints one JSON object per event on stdout (the same keys as
`sniffer-sub`, addresses as text) and reports sequence gaps and sensor restarts on
stderr. A detector would replace print_event() with its feature extraction.

Requirements (Debian 12): python3-zmq, python3-protobuf, and the module generated
from proto/sniffer.proto by the build (build/proto/sniffer_pb2.py):

    python3 examples/python_consumer.py --proto-dir build/proto --connect ipc:///run/sniffer/lab.sock
    PYTHONPATH=build/proto python3 examples/python_consumer.py --connect tcp://127.0.0.1:5556 --count 10

ZeroMQ subscribers are "slow joiners": messages published before the subscription
reached the sensor are not delivered, so start the consumer first.
"""
import argparse
import ipaddress
import json
import os
import signal
import sys
import time

TOPIC = b"pkt"

# Enum values as names, spelled as in sniffer-sub and the daemon's config.
ROLE_NAMES = {0: "unspecified", 1: "wan", 2: "lan"}
MODE_NAMES = {0: "unspecified", 1: "host-based", 2: "gateway"}
HOOK_NAMES = {0: "unspecified", 1: "xdp_ingress", 2: "tc_ingress", 3: "tc_egress"}
VERDICT_NAMES = {0: "pass", 1: "blocked", 2: "monitored"}


def import_schema(proto_dir):
    """Imports the generated sniffer_pb2 module from --proto-dir, else from PYTHONPATH,
    else from build/proto next to this checkout."""
    candidates = [proto_dir] if proto_dir else [None, os.path.join(os.path.dirname(__file__), "..", "build", "proto")]
    error = None
    for directory in candidates:
        if directory:
            sys.path.insert(0, os.path.abspath(directory))
        try:
            import sniffer_pb2  # pylint: disable=import-outside-toplevel

            return sniffer_pb2
        except ImportError as e:
            error = e
            if directory:
                sys.path.pop(0)
    where = proto_dir or "PYTHONPATH or build/proto"
    sys.exit(f"python_consumer: cannot import sniffer_pb2 from {where}: {error} "
             "(build the project, then pass --proto-dir BUILD_DIR/proto)")


def address_text(raw):
    """4 or 16 network-order bytes -> '192.0.2.10' / '2001:db8::1'; empty when not IP."""
    return str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else ""


def event_to_dict(event):
    """A PacketEvent as a plain dict: every field of the schema, enums as names,
    addresses as text, the payload snippet as hex."""
    out = {}
    for field in event.DESCRIPTOR.fields:
        value = getattr(event, field.name)
        if field.name == "role":
            value = ROLE_NAMES.get(value, str(value))
        elif field.name == "mode":
            value = MODE_NAMES.get(value, str(value))
        elif field.name == "hook":
            value = HOOK_NAMES.get(value, str(value))
        elif field.name == "verdict":
            value = VERDICT_NAMES.get(value, str(value))
        elif field.name in ("src_addr", "dst_addr"):
            value = address_text(value)
        elif field.name == "payload":
            out["payload_hex"] = value.hex()
            continue
        elif isinstance(value, (bytes, bytearray)):
            value = value.hex()
        elif not isinstance(value, (int, float, str, bool)):
            value = list(value)  # repeated fields (vlan_ids)
        out[field.name] = value
    return out


def print_event(event):
    print(json.dumps(event_to_dict(event), sort_keys=True))


class GapTracker:
    """Detects lost batches from the per-sensor sequence numbers."""

    def __init__(self):
        self.last = {}  # sensor_id -> (sensor_start_ns, sequence)
        self.missing = 0

    def check(self, batch):
        previous = self.last.get(batch.sensor_id)
        self.last[batch.sensor_id] = (batch.sensor_start_ns, batch.sequence)
        if previous is None:
            if batch.sequence != 1:
                eprint(f"joined sensor {batch.sensor_id!r} at sequence {batch.sequence}")
            return
        start, sequence = previous
        if start != batch.sensor_start_ns:
            eprint(f"sensor {batch.sensor_id!r} restarted (sequence starts over at {batch.sequence})")
        elif batch.sequence > sequence + 1:
            gap = batch.sequence - sequence - 1
            self.missing += gap
            eprint(f"{gap} batch(es) missing before sequence {batch.sequence} (sensor {batch.sensor_id!r})")
        elif batch.sequence <= sequence:
            eprint(f"sequence went back from {sequence} to {batch.sequence} (sensor {batch.sensor_id!r})")


def stop_on_signal(signum, frame):
    """SIGTERM ends the receive loop the way Ctrl-C (SIGINT) does."""
    raise KeyboardInterrupt


def eprint(message):
    print(f"python_consumer: {message}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(
        description="Print a sniffer sensor's packet events as JSON lines.",
        epilog="See the module docstring (head of this file) for the message format.",
    )
    parser.add_argument("--connect", required=True, metavar="ENDPOINT",
                        help="the sensor's publish endpoint, e.g. tcp://127.0.0.1:5556 or ipc:///run/sniffer/lab.sock")
    parser.add_argument("--count", type=int, default=0, metavar="N", help="exit after N events (0: never)")
    parser.add_argument("--timeout", type=float, default=0, metavar="S", help="exit after S seconds (0: never)")
    parser.add_argument("--proto-dir", metavar="DIR", help="directory holding the generated sniffer_pb2.py")
    args = parser.parse_args()

    pb2 = import_schema(args.proto_dir)
    import zmq  # pylint: disable=import-outside-toplevel

    signal.signal(signal.SIGTERM, stop_on_signal)

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, TOPIC)
    try:
        sub.connect(args.connect)
    except zmq.ZMQError as e:
        eprint(f"--connect {args.connect}: {e}")
        return 2

    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    gaps = GapTracker()
    printed = 0
    batch = pb2.EventBatch()
    try:
        while args.count == 0 or printed < args.count:
            wait_ms = 200
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait_ms = max(1, min(wait_ms, int(left * 1000)))
            if not sub.poll(wait_ms):
                continue
            frames = sub.recv_multipart()
            if len(frames) != 2 or frames[0] != TOPIC:
                eprint(f"malformed message ({len(frames)} frames), expected [topic, batch]")
                continue
            try:
                batch.ParseFromString(frames[1])
            except Exception as e:  # google.protobuf.message.DecodeError
                eprint(f"cannot decode batch ({len(frames[1])} bytes): {e}")
                continue
            gaps.check(batch)
            for event in batch.events:
                print_event(event)
                printed += 1
                if args.count and printed >= args.count:
                    break
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader went away (e.g. piped into head): nothing more to print.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        sub.close()
        ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
