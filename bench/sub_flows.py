#!/usr/bin/python3
"""A real ZeroMQ subscriber for bench/flowmode.sh and workers.sh: drains the given topics and accounts
for them (bench/sub_fast.cpp does the same natively, much faster).
Usage: sub_flows.py ENDPOINT PROTO_DIR OUTFILE TOPIC[,TOPIC]   (topics: pkt, flow)

pkt: decodes every EventBatch and counts the events. flow: decodes every FlowBatch and keeps,
per flow_id, the final record (is_update false; active-timeout updates carry the running totals
of the same flow, so summing them too would count packets twice) or, if a flow has no final
record, its latest update. On SIGTERM it keeps draining until nothing arrived for QUIET s (the
daemon has stopped by then, and its last batches may still be in the socket), then writes one
JSON object to OUTFILE: events, pkt_batches, flow_records (all received), flow_updates, flows
(distinct flow ids), duplicate_finals (a flow id with two final records: must be 0), and
flow_packets (sum of fwd.packets + bwd.packets over the kept record of every flow), per topic its
sequence accounting (seq: batches, first, last, gaps, missing, out_of_order: the sequence is one
counter per topic, +1 per batch sent or refused; a missing number is a lost batch; the first one
received is where this subscriber came in) and per worker its pkt batches and events (workers)."""
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


class SequenceCheck:
    def __init__(self):
        self.batches = self.first = self.last = self.gaps = self.missing = self.out_of_order = 0

    def see(self, seq):
        self.batches += 1
        if self.batches == 1:
            self.first = self.last = seq
        elif seq <= self.last:  # a repeat or a reordering: the publisher's lock makes neither possible
            self.out_of_order += 1
        else:
            if seq != self.last + 1:
                self.gaps += 1
                self.missing += seq - self.last - 1
            self.last = seq


signal.signal(signal.SIGTERM, on_term)
s = zmq.Context().socket(zmq.SUB)
for topic in sys.argv[4].split(","):
    s.setsockopt(zmq.SUBSCRIBE, topic.encode())
s.setsockopt(zmq.RCVHWM, 0)  # no limit here: a loss must show up in the daemon's counters, not ours
s.RCVTIMEO = 100
s.connect(sys.argv[1])
events = pkt_batches = flow_records = flow_updates = duplicate_finals = 0
kept = {}  # flow_id -> (is_final, packets)
seq = {"pkt": SequenceCheck(), "flow": SequenceCheck()}
workers = {}  # worker -> [pkt batches, events]
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
        seq["pkt"].see(b.sequence)
        w = workers.setdefault(str(b.worker), [0, 0])
        w[0] += 1
        w[1] += len(b.events)
    elif topic == b"flow":
        b = sniffer_pb2.FlowBatch()
        b.ParseFromString(payload)
        seq["flow"].see(b.sequence)
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
               "flow_packets": sum(p for _, p in kept.values()),
               "seq": {t: vars(c) for t, c in seq.items()},
               "workers": {k: {"batches": b, "events": e} for k, (b, e) in workers.items()}}, f)
    f.write("\n")
