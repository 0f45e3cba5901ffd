#!/usr/bin/env python3
"""UDP traffic for the e2e tests, run inside a lab namespace with `ip netns exec`.

  udp_tool.py echo --listen ADDR PORT [--listen ADDR PORT ...] [--timeout S]
      Binds every ADDR/PORT, prints "ready" on stdout once all are bound, then
      sends each datagram back to its sender from the socket it arrived on.
      Runs until SIGTERM or --timeout seconds without traffic.

  udp_tool.py send --src ADDR --sport PORT --dst ADDR --dport PORT --count N [--size B]
      Sends N datagrams from a fixed source address and port (so the test knows
      the exact 5-tuple), one at a time, each waiting for its echo. Prints one
      JSON summary line; exits 1 if an echo is missing or wrong.
"""
import argparse
import ipaddress
import json
import selectors
import signal
import socket
import sys


def family_of(addr):
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


def echo(args):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    for addr, port in args.listen:
        s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(port)))
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    echoed = 0
    while True:
        ready = sel.select(timeout=args.timeout)
        if not ready:
            print(json.dumps({"echoed": echoed, "exit": "idle timeout"}), flush=True)
            return 0
        for key, _ in ready:
            data, peer = key.fileobj.recvfrom(65535)
            key.fileobj.sendto(data, peer)
            echoed += 1


def send(args):
    s = socket.socket(family_of(args.dst), socket.SOCK_DGRAM)
    s.bind((args.src, args.sport))
    s.settimeout(args.reply_timeout)
    received = 0
    for i in range(args.count):
        payload = (f"sniffer-e2e {args.sport}->{args.dport} #{i} ".encode() + b"x" * args.size)[: args.size]
        s.sendto(payload, (args.dst, args.dport))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            print(json.dumps({"sent": i + 1, "received": received, "error": f"no echo for datagram #{i}"}))
            return 1
        if data != payload or ipaddress.ip_address(peer[0]) != ipaddress.ip_address(args.dst) or peer[1] != args.dport:
            print(json.dumps({"sent": i + 1, "received": received, "error": f"unexpected echo from {peer}"}))
            return 1
        received += 1
    print(json.dumps({"sent": args.count, "received": received}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--listen", nargs=2, action="append", metavar=("ADDR", "PORT"), required=True)
    e.add_argument("--timeout", type=float, default=60.0, help="exit after this many idle seconds")
    t = sub.add_parser("send")
    t.add_argument("--src", required=True)
    t.add_argument("--sport", type=int, required=True)
    t.add_argument("--dst", required=True)
    t.add_argument("--dport", type=int, required=True)
    t.add_argument("--count", type=int, default=1)
    t.add_argument("--size", type=int, default=64, help="payload bytes per datagram")
    t.add_argument("--reply-timeout", type=float, default=2.0)
    args = parser.parse_args()
    return echo(args) if args.command == "echo" else send(args)


if __name__ == "__main__":
    sys.exit(main())
