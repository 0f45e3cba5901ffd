"""Slow HTTP clients against one address, and a scraper timing its scrapes meanwhile.

    slow_http_tool.py --host 127.0.0.1 --port P --clients 50 --interval 1 --duration 9 \
                      --scrape-at 2 3.5 5 --scrape-timeout 5 [--reconnect-delay 0.2]

Each slow client connects, sends a request line and then one more header line every
`interval` seconds, never ending its headers: the attack that kept every worker of a
thread-pool server busy. A client the server closes reconnects after reconnect-delay
(so `clients` connections are held all along), until `duration` seconds have passed;
then they fall silent (still connected) until the last scrape is done.
At each --scrape-at time (seconds after every client first connected), a separate
thread scrapes GET /metrics and records how long it took.

Prints one JSON object: the clients connected at first, connects and drops over the
run, and per scrape: latency (seconds, null on failure), HTTP status, body length,
the error if any, and how many slow clients were connected as it started.
Everything is bounded: `clients` sockets, `duration` seconds, one scrape at a time.
"""
import argparse
import json
import selectors
import socket
import threading
import time


def scrape(host, port, timeout):
    start = time.monotonic()
    deadline = start + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: sniffer\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no complete response within {timeout} s ({len(data)} bytes)")
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        elapsed = time.monotonic() - start
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else None
        return {"latency": elapsed, "status": status, "bytes": len(body), "body": body.decode(errors="replace"),
                "error": None}
    except (OSError, ValueError, IndexError) as e:
        return {"latency": None, "status": None, "bytes": 0, "body": "", "error": f"{type(e).__name__}: {e}",
                "waited": time.monotonic() - start}


class SlowClient:
    def __init__(self, index):
        self.index = index
        self.sock = None
        self.next_send = 0.0
        self.lines = 0
        self.reconnect_at = None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=9.0)
    p.add_argument("--scrape-at", type=float, nargs="+", default=[])
    p.add_argument("--scrape-timeout", type=float, default=5.0)
    p.add_argument("--reconnect-delay", type=float, default=0.2)
    p.add_argument("--keep-body", action="store_true", help="print the body of the last scrape")
    args = p.parse_args()
    assert 0 < args.clients <= 500 and 0 < args.duration <= 60, "bounded by design"

    sel = selectors.DefaultSelector()
    clients = [SlowClient(i) for i in range(args.clients)]
    stats = {"connects": 0, "connect_errors": 0, "drops": 0}
    lock = threading.Lock()
    connected = 0

    def connect(c, now):
        nonlocal connected
        try:
            s = socket.create_connection((args.host, args.port), timeout=2)
            s.setblocking(False)
            s.send(b"GET /metrics HTTP/1.1\r\nHost: sniffer\r\n")
        except OSError:
            stats["connect_errors"] += 1
            c.reconnect_at = now + args.reconnect_delay
            return
        c.sock, c.next_send, c.reconnect_at = s, now + args.interval, None
        sel.register(s, selectors.EVENT_READ, c)
        stats["connects"] += 1
        with lock:
            connected += 1

    def dropped(c, now):
        nonlocal connected
        sel.unregister(c.sock)
        c.sock.close()
        c.sock = None
        c.reconnect_at = now + args.reconnect_delay
        stats["drops"] += 1
        with lock:
            connected -= 1

    for c in clients:
        connect(c, time.monotonic())
    initially = connected
    t0 = time.monotonic()
    end = t0 + args.duration

    scrapes = []

    def scraper():
        for at in sorted(args.scrape_at):
            delay = t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with lock:
                open_now = connected
            result = scrape(args.host, args.port, args.scrape_timeout)
            result["at"] = at
            result["slow_connected"] = open_now
            scrapes.append(result)

    thread = threading.Thread(target=scraper, daemon=True)
    thread.start()

    while True:
        now = time.monotonic()
        if now >= end and not thread.is_alive():
            break
        if now >= end + args.scrape_timeout + 5:
            break  # the scraper is stuck beyond its own timeout: report what we have
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                if c.sock.recv(4096) == b"":
                    dropped(c, time.monotonic())
            except BlockingIOError:
                pass
            except OSError:
                dropped(c, time.monotonic())
        now = time.monotonic()
        for c in clients:
            if c.sock is None:
                if now < end and c.reconnect_at is not None and now >= c.reconnect_at:
                    connect(c, now)
            elif now < end and now >= c.next_send:
                try:
                    c.sock.send(b"X-Slow-%d-%d: y\r\n" % (c.index, c.lines))
                    c.lines += 1
                    c.next_send = now + args.interval
                except BlockingIOError:
                    c.next_send = now + args.interval
                except OSError:
                    dropped(c, now)

    for c in clients:
        if c.sock is not None:
            c.sock.close()
    for i, result in enumerate(scrapes):
        if not (args.keep_body and i == len(scrapes) - 1):
            result.pop("body", None)
    print(json.dumps({"initially_connected": initially, **stats, "scrapes": scrapes}))


if __name__ == "__main__":
    main()
