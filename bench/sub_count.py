#!/usr/bin/python3
"""Counts packet events delivered to a real ZeroMQ subscriber (decodes each EventBatch).
Usage: sub_count.py ENDPOINT PROTO_DIR OUTFILE   (writes the count on SIGTERM)"""
import signal, sys
sys.path.insert(0, sys.argv[2])
import zmq
import sniffer_pb2
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"pkt")
s.setsockopt(zmq.RCVHWM, 100000)
s.RCVTIMEO = 100
s.connect(sys.argv[1])
events = batches = 0
while not stop:
    try:
        topic, payload = s.recv_multipart()
    except zmq.Again:
        continue
    b = sniffer_pb2.EventBatch()
    b.ParseFromString(payload)
    events += len(b.events)
    batches += 1
open(sys.argv[3], "w").write(f"{events} {batches}\n")
