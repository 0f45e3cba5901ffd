#!/usr/bin/env python3
"""tshark_expect.py: the gateway scenario's expected figures, from tshark's dissection of the
rewritten capture (the frames exactly as tcpreplay sends them).

Reads on stdin the output of

    tshark -n -r REWRITTEN.pcap -T fields -E occurrence=f -e frame.len -e eth.type -e ip.src \
        -e ip.dst -e ip.proto -e ip.ttl -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport

and writes JSON: the frame count, frames each way between the capture's two hosts, frames
per protocol class, and one entry per TCP/UDP conversation (5-tuple, the first frame defines
"forward", as the sensor's flows do) with frames and bytes (frame.len, as tshark counts them)
each way. Fails (exit 2) unless every frame is IPv4 between the two hosts, with a TTL the
gateway can forward and a size the lab's MTU carries.

    tshark ... | tshark_expect.py --client 192.0.2.50 --server 198.51.100.50 --pcap NAME
"""
import argparse
import json
import sys

CLASSES = {"6": "tcp", "17": "udp", "1": "icmp"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", required=True, help="the capture's first source, rewritten")
    ap.add_argument("--server", required=True, help="the capture's first destination, rewritten")
    ap.add_argument("--pcap", required=True, help="name printed in the figures")
    ap.add_argument("--max-frame", type=int, default=1514, help="largest frame the lab carries")
    args = ap.parse_args()
    a, b = args.client, args.server
    frames = a_to_b = b_to_a = 0
    classes = {}
    convs = {}
    order = []
    problems = []
    for n, line in enumerate(sys.stdin, 1):
        f = line.rstrip("\n").split("\t")
        f += [""] * (10 - len(f))
        length, etype, src, dst, proto, ttl, tsp, tdp, usp, udp = f[:10]
        frames += 1
        if etype != "0x0800" or not src:
            problems.append(f"frame {n}: not IPv4 (ethertype {etype or '?'})")
            continue
        if {src, dst} != {a, b}:
            problems.append(f"frame {n}: {src} -> {dst} is not between {a} and {b}")
            continue
        if int(ttl or 0) <= 1:
            problems.append(f"frame {n}: TTL {ttl}, the gateway would not forward it")
        if int(length) > args.max_frame:
            problems.append(f"frame {n}: {length} bytes, more than the lab's {args.max_frame}-byte frames")
        if src == a:
            a_to_b += 1
        else:
            b_to_a += 1
        cls = CLASSES.get(proto, "other")
        classes[cls] = classes.get(cls, 0) + 1
        if proto == "6":
            sport, dport = tsp, tdp
        elif proto == "17":
            sport, dport = usp, udp
        else:
            continue
        key = (int(proto), frozenset([(src, int(sport)), (dst, int(dport))]))
        conv = convs.get(key)
        if conv is None:
            conv = convs[key] = {"proto": int(proto), "src": src, "sport": int(sport), "dst": dst, "dport": int(dport),
                                 "fwd_packets": 0, "fwd_bytes": 0, "bwd_packets": 0, "bwd_bytes": 0}
            order.append(key)
        side = "fwd" if (src, int(sport)) == (conv["src"], conv["sport"]) else "bwd"
        conv[f"{side}_packets"] += 1
        conv[f"{side}_bytes"] += int(length)
    if frames == 0:
        problems.append("no frame read")
    if problems:
        for p in problems[:10]:
            print(f"tshark_expect.py: {args.pcap}: {p}", file=sys.stderr)
        if len(problems) > 10:
            print(f"tshark_expect.py: ... and {len(problems) - 10} more", file=sys.stderr)
        return 2
    json.dump({"pcap": args.pcap, "client": a, "server": b, "frames": frames, "frames_a_to_b": a_to_b,
               "frames_b_to_a": b_to_a, "classes": classes, "conversations": [convs[k] for k in order]},
              sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
