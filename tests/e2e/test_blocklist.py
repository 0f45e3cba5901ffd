"""Prevention end to end: the real daemon on the lab's WAN NIC, a detector's block command over the
CURVE-authenticated control socket (the real `sniffer block` client), traffic from the attacker
namespace stopped at the WAN NIC (the client namespace receives nothing, the counters rise, the
events say "blocked"), the entry expiring and traffic flowing again; a client whose key the sensor
does not allow is refused, and commands beyond the rate limit are refused."""
import calendar
import json
import time

from e2e_support import Addr, run, warm_up

BLOCK_SECONDS = 4


def keygen(env, prefix):
    run([env.sniffer, "keygen", "--out", prefix])
    return f"{prefix}.pub", f"{prefix}.key"


def lan_peer_echo_requests(lab):
    """ICMP echo requests the client namespace has received (Icmp InEchos of its /proc/net/snmp).
    Not the NIC's rx counter: that also counts the gateway's own IPv6 MLD reports of a fresh lab."""
    lines = [line.split() for line in run(["ip", "netns", "exec", lab.lan, "cat", "/proc/net/snmp"]).stdout.splitlines()
             if line.startswith("Icmp:")]
    return int(lines[1][lines[0].index("InEchos")])


def test_a_block_command_stops_the_attacker_at_the_wan_nic_until_it_expires(env, lab, start_daemon, subscribe,
                                                                             tmp_path):
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    _, detector_key = keygen(env, tmp_path / "detector")
    _, stranger_key = keygen(env, tmp_path / "stranger")
    authorized = tmp_path / "detectors"
    authorized.write_text(open(tmp_path / "detector.pub").read())
    control = f"ipc://{tmp_path}/control.sock"
    daemon = start_daemon(
        control={"endpoint": control, "rate_limit_per_s": 1, "rate_burst": 10,
                 "curve": {"secret_key_file": sensor_key, "authorized_keys_file": str(authorized)}},
        blocklist={"roles": ["wan"], "default_duration_s": 900, "max_duration_s": 1000})

    def block(key_file, *args):
        return run([env.sniffer, "block", "--endpoint", control, "--server-key", sensor_pub, "--key-file", key_file,
                    "--name", "e2e-detector", "--timeout-ms", "2000", *args], check=False)

    sub = subscribe(daemon.endpoint)
    warm_up(lab, lambda: len(sub.events))
    assert lab.ping(lab.wan, Addr.LAN4_PEER).returncode == 0, "no traffic through the gateway before the block"

    added = block(detector_key, "add", Addr.WAN4_PEER, "--duration", str(BLOCK_SECONDS), "--reason", "e2e scan")
    assert added.returncode == 0, added.stderr
    assert f"{Addr.WAN4_PEER}/32" in added.stdout
    blocked_at, blocked_wall = time.monotonic(), time.time_ns()

    echoes_before = lan_peer_echo_requests(lab)
    assert lab.ping(lab.wan, Addr.LAN4_PEER, count=3, wait=1).returncode != 0, "pings got through a block"
    assert lan_peer_echo_requests(lab) == echoes_before, "the client namespace received pings from a blocked source"

    listed = block(detector_key, "list")
    assert listed.returncode == 0, listed.stderr
    row = [line for line in listed.stdout.splitlines() if f"{Addr.WAN4_PEER}/32" in line]
    assert len(row) == 1, listed.stdout
    assert int(row[0].split()[4]) >= 3, f"hit counter below the 3 pings dropped: {row[0]}"

    # Durations: longer than blocklist.max_duration_s is refused, naming the key; none given
    # means blocklist.default_duration_s (expiry 900 s from now, to the second).
    too_long = block(detector_key, "add", "203.0.113.0/24", "--duration", "1001")
    assert too_long.returncode == 1 and "blocklist.max_duration_s 1000" in too_long.stderr, too_long.stderr
    before_add = int(time.time())
    assert block(detector_key, "add", "203.0.113.0/24", "--reason", "default duration").returncode == 0
    row = [line for line in block(detector_key, "list").stdout.splitlines() if "203.0.113.0/24" in line]
    assert len(row) == 1, row
    expires = calendar.timegm(time.strptime(row[0].split()[5], "%Y-%m-%dT%H:%M:%SZ"))
    assert before_add + 900 - 1 <= expires <= int(time.time()) + 900, (row[0], before_add)
    assert block(detector_key, "del", "203.0.113.0/24").returncode == 0

    # A client the sensor does not allow gets no answer, and nothing changes.
    refused = block(stranger_key, "del", Addr.WAN4_PEER)
    assert refused.returncode == 1 and "no reply" in refused.stderr, refused.stderr + refused.stdout
    assert f"{Addr.WAN4_PEER}/32" in block(detector_key, "list").stdout

    # The entry expires: traffic flows again, without any command.
    deadline = blocked_at + BLOCK_SECONDS + 5
    while True:
        attempt_wall = time.time_ns()
        if lab.ping(lab.wan, Addr.LAN4_PEER).returncode == 0:
            break
        assert time.monotonic() < deadline, "traffic did not resume after the block expired"
    assert time.monotonic() - blocked_at >= BLOCK_SECONDS - 0.5, "traffic resumed before the expiry"
    # The kernel ignores an expired entry at once; the daemon's sweep (each second) removes it.
    sweep_deadline = time.monotonic() + 3
    while True:
        listed = block(detector_key, "list")
        assert listed.returncode == 0, listed.stderr
        if f"{Addr.WAN4_PEER}/32" not in listed.stdout:
            break
        assert time.monotonic() < sweep_deadline, "the expired entry was not removed"
        time.sleep(0.3)

    # The rate limit: bursts of 10, 1 a second; 12 commands in a row exceed it.
    statuses = [block(detector_key, "list") for _ in range(12)]
    assert any("RATE_LIMITED" in s.stderr for s in statuses), [s.stderr for s in statuses]

    # The events: dropped pings are recorded on wan0 as blocked; no echo reply came back from the
    # client (lan0 ingress) while the block held.
    sub.stop()
    attacker, client = bytes([198, 51, 100, 10]), bytes([192, 0, 2, 10])
    requests = [e for e in sub.events if e.src_addr == attacker and e.dst_addr == client and e.l4_protocol == 1]
    blocked = [e for e in requests if e.verdict == env.pb2.VERDICT_BLOCKED]
    assert len(blocked) >= 3 and all(e.interface == "wan0" for e in blocked)
    assert all(e.block_rule_id == blocked[0].block_rule_id != 0 for e in blocked)
    replies = [e for e in sub.events if e.src_addr == client and e.dst_addr == attacker and e.interface == "lan0"]
    assert [e for e in replies if blocked_wall <= e.timestamp_ns < attempt_wall] == []
    assert len(replies) >= 2, "the replies before the block and after its expiry"

    report = daemon.stop()
    wan = report["kernel"]["interfaces"]["wan0"]
    assert wan["blocked"] >= 3 and wan["blocked"] == len(blocked)
    assert report["kernel"]["interfaces"]["lan0"]["blocked"] == 0  # the LAN role is not checked
    bl = report["userspace"]["blocklist"]
    assert bl["expired"] == 1 and bl["entries"] == 0
    assert bl["control"]["block"]["ok"] == 2 and bl["control"]["block"]["invalid"] == 1
    assert bl["control"]["list"]["rate_limited"] >= 1
    assert report["userspace"]["auth"]["control"]["refused"] >= 1
    log = daemon.stderr()
    assert "e2e-detector" in log and "blocked 198.51.100.10/32" in log and "e2e scan" in log
    assert "expired" in log


def test_a_control_socket_without_curve_is_refused_at_start(env, tmp_path):
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps({"interfaces": [{"name": "lo", "role": "wan", "mode": "host-based"}],
                                  "control": {"endpoint": f"ipc://{tmp_path}/c.sock"}}))
    result = run([env.sniffer, "--config", config, "--print-config"], check=False)
    assert result.returncode == 1
    assert "control.curve: missing" in result.stderr
