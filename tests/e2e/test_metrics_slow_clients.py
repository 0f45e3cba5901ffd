"""The metrics endpoint cannot be starved by slow clients (issue 16).

Slow clients send a request line and then one header line a second, never ending their
headers, and reconnect whenever the daemon closes them. A thread-pool server whose read
timeout restarts on every line gives each of them a worker for as long as it likes; the
daemon's endpoint must instead close them at its whole-request deadline, cap its
connections (the one idle the longest goes first), and still answer a scrape within one
second. Everything talks to 127.0.0.1 inside the test's own sensor namespace, with a
bounded number of clients for a bounded time (tests/e2e/slow_http_tool.py).
"""
import json
import sys

from e2e_support import E2E_DIR, random_ports, scrape

SLOW_HTTP_TOOL = E2E_DIR / "slow_http_tool.py"
SCRAPE_BOUND_S = 1.0


def run_slow_clients(lab, port, clients, duration, scrape_at, reconnect_delay):
    result = lab.exec(lab.gw, [sys.executable, SLOW_HTTP_TOOL, "--host", "127.0.0.1", "--port", port,
                               "--clients", clients, "--interval", 1.0, "--duration", duration,
                               "--scrape-at", *scrape_at, "--scrape-timeout", 5,
                               "--reconnect-delay", reconnect_delay, "--keep-body"],
                      timeout=duration + 60)
    out = json.loads(result.stdout)
    print(json.dumps({k: v for k, v in out.items() if k != "scrapes"}))
    for s in out["scrapes"]:
        print({k: v for k, v in s.items() if k != "body"})
    return out


def samples(text):
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def assert_scrapes_served(out, expected, min_slow_connected):
    for s in out["scrapes"]:
        summary = {k: v for k, v in s.items() if k != "body"}
        assert s["error"] is None and s["status"] == 200, f"scrape failed under slow clients: {summary}"
        assert s["latency"] < SCRAPE_BOUND_S, f"scrape took {s['latency']:.3f} s under slow clients: {summary}"
        # The load was there: the slow clients held their connections as it ran.
        assert s["slow_connected"] >= min_slow_connected, summary
    assert len(out["scrapes"]) == expected, out
    assert "# TYPE sniffer_packets_total counter" in out["scrapes"][-1]["body"]


def test_fifty_slow_clients_cannot_starve_a_scrape(lab, start_daemon):
    port = 9750 + random_ports(1)[0] % 1000
    daemon = start_daemon(metrics={"listen": f"127.0.0.1:{port}"})
    # 10 s of 50 slow clients: several whole-request deadlines (3 s) go by, so scrapes
    # land both on fresh slow connections and on ones about to be closed.
    out = run_slow_clients(lab, port, clients=50, duration=10, scrape_at=[1.5, 3.5, 5.5, 7.5, 9.0],
                           reconnect_delay=0.05)
    assert out["initially_connected"] == 50, out
    assert_scrapes_served(out, 5, min_slow_connected=40)
    # Under the cap (64) nothing is evicted: the deadline closes the slow clients, and
    # each such close is counted.
    during = samples(out["scrapes"][-1]["body"])
    assert during["sniffer_metrics_http_connections_open"] <= 64
    _, after = scrape(lab, port)
    assert after['sniffer_metrics_http_connections_dropped_total{reason="request_timeout"}'] >= 50, after
    assert after['sniffer_metrics_http_connections_dropped_total{reason="evicted"}'] == 0, after
    assert after["sniffer_metrics_http_requests_served_total"] >= 5, after
    assert after["sniffer_metrics_http_connections_accepted_total"] >= 50 + 5, after
    daemon.stop()


def test_more_slow_clients_than_the_cap_evict_the_idlest(lab, start_daemon):
    port = 9750 + random_ports(1)[0] % 1000
    daemon = start_daemon(metrics={"listen": f"127.0.0.1:{port}"})
    out = run_slow_clients(lab, port, clients=100, duration=6, scrape_at=[1.0, 2.5, 4.0, 5.5],
                           reconnect_delay=0.5)
    # Over the cap, the kernel completes every handshake and the daemon evicts to make
    # room, so most slow clients are connected at any time (evicted ones come back).
    assert out["initially_connected"] == 100, out
    assert_scrapes_served(out, 4, min_slow_connected=50)
    during = samples(out["scrapes"][-1]["body"])
    assert during["sniffer_metrics_http_connections_open"] <= 64, during
    _, after = scrape(lab, port)
    assert after['sniffer_metrics_http_connections_dropped_total{reason="evicted"}'] >= 100 - 64, after
    assert after["sniffer_metrics_http_requests_served_total"] >= 4, after
    daemon.stop()
