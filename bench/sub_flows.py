#!/usr/bin/python3
"""A real ZeroMQ subscriber for bench/flowmode.sh: drains the given topics and accounts for them.
Usage: sub_flows.py ENDPOINT PROTO_DIR OUTFILE TOPIC[,TOPIC]   (topics: pkt, flow)

pkt: decodes every EventBatch and counts the events. flow: decodes every FlowBatch and keeps,
per flow_id, the final record (is_update false; active-timeout updates carry the running totals
of the same flow, so summing them too would count packets twice) or, if a flow has no final
record, its latest update. On SIGTERM it keeps draining until nothing arrived for QUIET s (the
daemon has stopped by then, and its last batches may still be in the socket), then writes one
JSON object to OUTFILE: events, pkt_batches, flow_records (all received), flow_updates, flows
(distinct flow ids), duplicate_finals (a flow id with two final records: must be 0), and
flow_packets (sum of fwd.packets + bwd.packets over the kept record of every flow)."""
import json
import signal
import sys
import time

sys.path.insert(0, sys.argv[2])
import zmq  # noqa: E402
import sniffer_pb2  # noqa: E402

QUIET = 0.5
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
s = zmq.Context().socket(zmq.SUB)
for topic in sys.argv[4].split(","):
    s.setsockopt(zmq.SUBSCRIBE, topic.encode())
s.setsockopt(zmq.RCVHWM, 0)  # no limit here: a loss must show up in the daemon's counters, not ours
s.RCVTIMEO = 100
s.connect(sys.argv[1])
events = pkt_batches = flow_records = flow_updates = duplicate_finals = 0
kept = {}  # flow_id -> (is_final, packets)
last = time.monotonic()
while not stop or time.monotonic() - last < QUIET:
    try:
        topic, payload = s.recv_multipart()
    except zmq.Again:
        continue
    last = time.monotonic()
    if topic == b"pkt":
        b = sniffer_pb2.EventBatch()
        b.ParseFromString(payload)
        events += len(b.events)
        pkt_batches += 1
    elif topic == b"flow":
        b = sniffer_pb2.FlowBatch()
        b.ParseFromString(payload)
        for r in b.flows:
            flow_records += 1
            flow_updates += r.is_update
            had = kept.get(r.flow_id)
            if had and had[0] and not r.is_update:
                duplicate_finals += 1
            if not had or not had[0]:  # a final record replaces an update, never the reverse
                kept[r.flow_id] = (not r.is_update, r.fwd.packets + r.bwd.packets)
with open(sys.argv[3], "w") as f:
    json.dump({"events": events, "pkt_batches": pkt_batches, "flow_records": flow_records,
               "flow_updates": flow_updates, "flows": len(kept), "duplicate_finals": duplicate_finals,
               "flow_packets": sum(p for _, p in kept.values())}, f)
    f.write("\n")
