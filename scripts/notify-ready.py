#!/usr/bin/env python3
"""Waits for a daemon's sd_notify READY=1, as systemd's Type=notify does.

    notify-ready.py SOCKET TIMEOUT_S

Binds a datagram socket at SOCKET (give the same path to the daemon as
NOTIFY_SOCKET), then exits 0 when READY=1 arrives, 1 after TIMEOUT_S. Each
STATUS= the daemon sends goes to stdout. Used by scripts/lab-env.sh and
vagrant/netns-lab.sh instead of grepping the log."""
import os
import socket
import sys
import time


def main():
    path, timeout = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(path):
        os.unlink(path)
    sock.bind(path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(0.1)
            try:
                message = sock.recv(4096).decode(errors="replace")
            except socket.timeout:
                continue
            fields = dict(line.split("=", 1) for line in message.splitlines() if "=" in line)
            if "STATUS" in fields:
                print(fields["STATUS"], flush=True)
            if fields.get("READY") == "1":
                return 0
        return 1
    finally:
        sock.close()
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
