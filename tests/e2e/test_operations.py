"""Operating the daemon: the Prometheus endpoint agrees with the traffic sent, systemd's
notify protocol (READY, WATCHDOG, STATUS, STOPPING), and the "stats" topic."""
import json
import os
import re
import socket
import subprocess
import time

from e2e_support import Addr, random_ports, scrape, udp_send





def test_metrics_endpoint_counts_what_was_sent(lab, start_daemon, echo_servers):
    port = 9750 + random_ports(1)[0] % 1000
    daemon = start_daemon(metrics={"listen": f"127.0.0.1:{port}", "log_interval_s": 1})
    sport, dport = random_ports(2)
    echo_servers.start(lab.lan, [(Addr.LAN4_PEER, dport)])
    count = 7
    udp_send(lab, lab.wan, Addr.WAN4_PEER, sport, Addr.LAN4_PEER, dport, count, 100)
    time.sleep(1.5)  # the endpoint is refreshed every second
    text, m = scrape(lab, port)
    assert "# TYPE sniffer_packets_total counter" in text
    key = 'sniffer_packets_total{interface="%s",hook="%s",class="udp"}'
    # Requests enter wan0; replies enter lan0 and leave through wan0 (tc_egress).
    assert m[key % ("wan0", "xdp_ingress")] == count, text
    assert m[key % ("lan0", "xdp_ingress")] == count, text
    assert m[key % ("wan0", "tc_egress")] == count, text
    assert m['sniffer_bytes_total{interface="wan0",hook="xdp_ingress",class="udp"}'] == count * (14 + 20 + 8 + 100)
    assert m['sniffer_dropped_total{stage="kernel",reason="ring_full",interface="wan0"}'] == 0
    assert m["sniffer_records_received_total"] >= 3 * count
    report = daemon.stop()
    # The log line came every second, and the final counters agree with the scrape.
    assert re.search(r"info stats: records \d+", daemon.stderr()), daemon.stderr()
    wan = report["kernel"]["interfaces"]["wan0"]
    assert wan["packets"]["xdp_ingress"]["udp"] == count
    assert wan["packets"]["tc_egress"]["udp"] == count


def test_systemd_notify_protocol(lab, env, tmp_path):
    """What systemd's Type=notify and WatchdogSec= see: READY=1 once attached, WATCHDOG=1
    from the drain loop, STATUS= with live counters, STOPPING=1 on SIGTERM."""
    notify_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.settimeout(0.2)
    config = tmp_path / "notify.json"
    config.write_text(json.dumps({
        "interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
        "publish": {"endpoint": f"ipc://{tmp_path}/n.sock"}, "metrics": {"listen": ""}}))
    env_vars = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
    proc = lab.popen(lab.gw, [env.sniffer, "--config", config], env=env_vars,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    messages = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                any("READY=1" in m for m in messages) and sum("WATCHDOG=1" in m for m in messages) >= 2
                and any(m.startswith("STATUS=stats:") for m in messages)):
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        proc.send_signal(15)
        proc.wait(10)
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except socket.timeout:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, proc.stderr.read().decode()
    joined = "\n".join(messages)
    assert "READY=1" in joined, messages
    assert sum("WATCHDOG=1" in m for m in messages) >= 2, messages
    assert any(m.startswith("STATUS=stats: records") for m in messages), messages
    assert messages[-1] == "STOPPING=1", messages
    assert sum("READY=1" in m for m in messages) == 1, messages


def test_stats_topic_carries_the_counters(lab, start_daemon, env):
    daemon = start_daemon(metrics={"listen": "", "stats_interval_s": 1})
    ctx = env.zmq.Context()
    sub = ctx.socket(env.zmq.SUB)
    sub.setsockopt(env.zmq.SUBSCRIBE, b"stats")
    sub.setsockopt(env.zmq.RCVTIMEO, 5000)
    sub.connect(daemon.endpoint)
    try:
        lab.ping(lab.wan, Addr.WAN4_GW, count=2)
        reports = []
        while len(reports) < 2:
            topic, body = sub.recv_multipart()
            assert topic == b"stats"
            stats = env.pb2.StatsReport()
            stats.ParseFromString(body)
            reports.append(stats)
    finally:
        sub.close(0)
        ctx.term()
    daemon.stop()
    assert reports[1].sequence == reports[0].sequence + 1
    assert reports[0].sensor_id == "e2e"
    counters = json.loads(reports[1].report_json)
    assert counters["kernel"]["records"] >= 4
    assert "wan0" in counters["kernel"]["interfaces"]


def test_check_diagnoses_the_host(lab, env):
    ok = lab.exec(lab.gw, [env.sniffer, "-i", "wan0:wan:gateway", "-i", "lan0:lan:host-based", "--check"],
                  check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    rows = {line[:22].strip(): (line[23:29].strip(), line[30:]) for line in ok.stdout.splitlines()[1:-1]}
    assert rows["BTF"][0] == "ok" and rows["capabilities"][0] == "ok" and rows["programs"][0] == "ok", ok.stdout
    assert rows["wan0"][0] == "ok" and "native" in ok.stdout, ok.stdout
    # This kernel cannot run libxdp's dispatcher (no freplace): the check says so.
    assert "libxdp" in ok.stdout and ("legacy" in ok.stdout or "yes:" in ok.stdout), ok.stdout

    bad = lab.exec(lab.gw, [env.sniffer, "-i", "wan0:wan:gateway", "-i", "nosuch0:lan:gateway", "--check"],
                   check=False)
    assert bad.returncode == 1
    assert re.search(r"nosuch0\s+FAIL\s+no such interface", bad.stdout), bad.stdout


def test_dry_run_loads_and_fills_maps_but_attaches_nothing(lab, env):
    result = lab.exec(lab.gw, [env.sniffer, "-i", "wan0:wan:gateway", "-i", "lan0:lan:gateway", "--dry-run"],
                      check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["dry_run"] == "ok" and summary["interfaces"] == 2
    assert "attached xdp" not in result.stderr and "attached tc" not in result.stderr
    links = lab.links()
    assert "xdp" not in links["wan0"] and "xdp" not in links["lan0"]


def test_json_log_format(lab, env):
    result = lab.exec(lab.gw, [env.sniffer, "-i", "wan0:wan:gateway", "--dry-run", "--log-format", "json"],
                      check=False)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "msg"} <= line.keys() for line in lines), result.stderr
    assert any("BPF programs loaded" in line["msg"] for line in lines)
