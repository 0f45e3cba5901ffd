"""Prevention end to end: the real daemon on the lab's WAN NIC, a detector's block command over the
CURVE-authenticated control socket (the real `sniffer block` client), traffic from the attacker
namespace stopped at the WAN NIC (the client namespace receives nothing, the counters rise, the
events say "blocked"), the entry expiring and traffic flowing again; a client whose key the sensor
does not allow is refused, and commands beyond the rate limit are refused."""
import calendar
import json
import signal
import subprocess
import time

import pytest

from e2e_support import Addr, lab_config, random_ports, run, scrape, wait_log, warm_up

BLOCK_SECONDS = 4


def keygen(env, prefix):
    run([env.sniffer, "keygen", "--out", prefix])
    return f"{prefix}.pub", f"{prefix}.key"


def control_socket(env, tmp_path, client):
    """A control socket on ipc:// with one authorized client `client`: (the config's control section,
    the sensor's public key file, the client's secret key file)."""
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    _, client_key = keygen(env, tmp_path / client)
    authorized = tmp_path / f"{client}s"
    authorized.write_text(open(tmp_path / f"{client}.pub").read())
    control = {"endpoint": f"ipc://{tmp_path}/control.sock",
               "curve": {"secret_key_file": sensor_key, "authorized_keys_file": str(authorized)}}
    return control, sensor_pub, client_key


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

    # A client the sensor does not allow gets no answer, and nothing changes (asked of the
    # 900 s entry: the short block may expire while the refused client waits for a reply).
    refused = block(stranger_key, "del", "203.0.113.0/24")
    assert refused.returncode == 1 and "no reply" in refused.stderr, refused.stderr + refused.stdout
    assert "203.0.113.0/24" in block(detector_key, "list").stdout
    assert block(detector_key, "del", "203.0.113.0/24").returncode == 0

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


# ---- the guard: prevention that cannot lock the operator out ----


def test_an_address_the_sensor_gains_inside_a_block_is_exempted_and_the_block_stays(env, lab, start_daemon,
                                                                                   tmp_path):
    """The host's addresses change without the operator: a DHCP lease, or a router advertisement any
    link peer may send, puts one inside a block. Only that address is exempted, in that direction,
    while the sensor has it: the static entry still drops everyone else, and a control entry stays in
    the kernel and in the state file. Round 16 suspended the whole static entry and removed the control
    entry for good: one forged RA lifted any block (red team, round 17). An entry over the sensor's
    address at start is no error either; a client may not remove a static entry, nor add an entry
    inside it (round 18)."""
    control, sensor_pub, client_key = control_socket(env, tmp_path, "detector")
    state = tmp_path / "blocks.json"
    try:
        daemon = start_daemon(control=control, blocklist={
            "roles": ["wan"], "state_file": str(state),
            "entries": [{"prefix": "203.0.113.0/24", "reason": "static"},
                        {"prefix": "198.51.100.0/24", "direction": "dst"}]})
        assert (f"blocklist: the sensor's address {Addr.WAN4_GW} is inside the dst entry 198.51.100.0/24 "
                f"(config blocklist.entries[1])") in daemon.stderr(), daemon.stderr()

        def block(*args):
            return run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub,
                        "--key-file", client_key, "--name", "det", "--timeout-ms", "3000", *args], check=False)

        # Two attackers in the WAN namespace, routed back through it.
        for attacker in ("203.0.113.5", "203.0.114.5"):
            lab.exec(lab.wan, ["ip", "addr", "add", f"{attacker}/32", "dev", "eth0"])
            lab.exec(lab.gw, ["ip", "route", "add", attacker, "via", Addr.WAN4_PEER])
        assert lan_echoes_from(lab, "203.0.114.5") == 3, "the lab does not route the attackers"
        assert lan_echoes_from(lab, "203.0.113.5") == 0
        assert block("add", "203.0.114.0/24", "--duration", "600", "--reason", "attacker").returncode == 0
        assert lan_echoes_from(lab, "203.0.114.5") == 0
        lab.exec(lab.gw, ["ip", "addr", "add", "203.0.113.1/32", "dev", "wan0"])
        lab.exec(lab.gw, ["ip", "addr", "add", "203.0.114.1/32", "dev", "wan0"])
        assert wait_log(daemon, "blocklist: the sensor's address 203.0.113.1 is inside the src entry 203.0.113.0/24 "
                                "(config blocklist.entries[0])", timeout=5), daemon.stderr()
        assert wait_log(daemon, "blocklist: the sensor's address 203.0.114.1 is inside the src entry 203.0.114.0/24 "
                                "(control: det", timeout=5), daemon.stderr()
        assert lan_echoes_from(lab, "203.0.113.5") == 0, "the static entry no longer drops the rest of its prefix"
        assert lan_echoes_from(lab, "203.0.114.5") == 0, "the control entry no longer drops the rest of its prefix"
        listed = block("list").stdout
        assert "203.0.113.0/24" in listed and "203.0.114.0/24" in listed, listed
        time.sleep(1.5)  # the state file's writer
        assert "203.0.114.0/24" in state.read_text(), state.read_text()

        # A control client may not lift the operator's entry, nor replace it by one that ends.
        removed = block("del", "203.0.113.0/24")
        assert removed.returncode == 1, removed.stdout
        assert ("203.0.113.0/24 (src) is the config's entry, config blocklist.entries[0]: only a change of the "
                "config and a reload changes it") in removed.stderr, removed.stderr
        assert block("add", "203.0.113.0/24", "--duration", "1").returncode == 1
        # Nor punch a hole in it: the kernel applies the longest match alone (red team, round 18).
        hole = block("add", "203.0.113.5", "--action", "count", "--duration", "600", "--reason", "hole")
        assert hole.returncode == 1, hole.stdout
        assert ("203.0.113.5/32 (src) is inside the config's drop entry 203.0.113.0/24, config "
                "blocklist.entries[0], which drops it already") in hole.stderr, hole.stderr
        time.sleep(1.5)
        assert lan_echoes_from(lab, "203.0.113.5") == 0, "a client lifted a static entry"

        lab.exec(lab.gw, ["ip", "addr", "del", "203.0.113.1/32", "dev", "wan0"])
        assert wait_log(daemon, "blocklist: the exemption of 203.0.113.1 from the src entries over it ended",
                        timeout=5), daemon.stderr()
        bl = daemon.stop()["userspace"]["blocklist"]
        # Left: the sensor's WAN address (dst) and 203.0.114.1 (src).
        assert bl["entries"] == 3 and bl["revoked"] == 0 and bl["exemptions"] == 2, bl
    finally:
        lab.exec(lab.gw, ["ip", "addr", "del", "203.0.113.1/32", "dev", "wan0"], check=False)


def test_blocks_over_learned_and_v4_mapped_addresses(env, lab, start_daemon, tmp_path):
    """Red team, round 18. (1) An IPv6 address the sensor learned from the network (a lifetime, as
    SLAAC from any link peer's router advertisement or DHCPv6 gives) no longer makes a block over it
    refused: the block is added and the address exempted; a configured address still refuses it.
    (2) A block given as ::ffff:a.b.c.d is the IPv4 block (it never matched). (3) A v4-mapped address
    on the sensor is no IPv4 address of it: the host it names stays blocked."""
    control, sensor_pub, client_key = control_socket(env, tmp_path, "detector")
    daemon = start_daemon(control=control, blocklist={"roles": ["wan"]})

    def block(*args):
        return run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub,
                    "--key-file", client_key, "--name", "det", "--timeout-ms", "3000", *args], check=False)

    learned, configured = "2001:db8:bad:1::99", "2001:db8:bad:2::99"
    try:
        lab.exec(lab.gw, ["ip", "-6", "addr", "add", f"{learned}/64", "dev", "wan0", "valid_lft", "3600",
                          "preferred_lft", "3600", "nodad"])
        lab.exec(lab.gw, ["ip", "-6", "addr", "add", f"{configured}/64", "dev", "wan0", "nodad"])
        added = block("add", "2001:db8:bad:1::/64", "--duration", "600", "--reason", "attacker's /64")
        assert added.returncode == 0, added.stderr
        assert wait_log(daemon, f"blocklist: the sensor's address {learned} is inside the src entry "
                                "2001:db8:bad:1::/64 (control: det", timeout=5), daemon.stderr()
        refused = block("add", "2001:db8:bad:2::/64", "--duration", "600")
        assert refused.returncode == 1, refused.stdout
        assert f"would cover the sensor's address {configured}" in refused.stderr, refused.stderr

        # The attacker, an address of the WAN namespace routed back through it.
        attacker = "203.0.113.5"
        lab.exec(lab.wan, ["ip", "addr", "add", f"{attacker}/32", "dev", "eth0"])
        lab.exec(lab.gw, ["ip", "route", "add", attacker, "via", Addr.WAN4_PEER])
        assert lan_echoes_from(lab, attacker) == 3, "the lab does not route the attacker"
        mapped = block("add", f"::ffff:{attacker}", "--duration", "600", "--reason", "as a dual-stack log has it")
        assert mapped.returncode == 0, mapped.stderr
        assert f"{attacker}/32" in mapped.stdout, mapped.stdout
        assert lan_echoes_from(lab, attacker) == 0, "a block given as ::ffff:a.b.c.d does not apply"

        lab.exec(lab.gw, ["ip", "-6", "addr", "add", f"::ffff:{attacker}/128", "dev", "wan0", "nodad"])
        time.sleep(1.5)  # the once-a-second sweep
        assert lan_echoes_from(lab, attacker) == 0, "a v4-mapped address of the sensor exempted the IPv4 host"
        assert f"the sensor's address {attacker} is inside" not in daemon.stderr(), daemon.stderr()
        bl = daemon.stop()["userspace"]["blocklist"]
        assert bl["entries"] == 2 and bl["exemptions"] == 1, bl
    finally:
        for address in (f"{learned}/64", f"{configured}/64", f"::ffff:{attacker}/128"):
            lab.exec(lab.gw, ["ip", "-6", "addr", "del", address, "dev", "wan0"], check=False)


REFUSAL_SUFFIX = "(blocks never cover the sensor's addresses, its control clients or blocklist.protected)"
ATTACKER = "198.51.100.20"  # a second address of the WAN namespace; the control client is Addr.WAN4_PEER


def lan_echoes_from(lab, src, count=3):
    """Pings the LAN peer from `src` (an address of the WAN namespace); returns how many echo
    requests the LAN peer received meanwhile (replies are not needed: they may be blocked)."""
    before = lan_peer_echo_requests(lab)
    lab.exec(lab.wan, ["ping", "-n", "-q", "-c", count, "-i", "0.2", "-W", 1, "-I", src, Addr.LAN4_PEER], check=False)
    return lan_peer_echo_requests(lab) - before


def test_a_wan_side_control_client_cannot_lock_out_the_wan_the_sensor_or_itself(env, lab, start_daemon, tmp_path):
    """The detector sits on the WAN side and talks to the control socket over tcp:// through the very
    NIC the blocklist guards. 0.0.0.0/0, ::/0, a prefix covering the sensor's address and one covering
    the client itself are refused with the reason; a /32 of an attacker next to it still drops; the
    control path answers throughout; `block list` says why each entry exists."""
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    detector_pub, detector_key = keygen(env, tmp_path / "detector")
    authorized = tmp_path / "detectors"
    authorized.write_text(open(detector_pub).read().strip() + "  # wan-detector\n")
    port, metrics_port = random_ports(2)
    control = f"tcp://{Addr.WAN4_GW}:{port}"
    daemon = start_daemon(
        control={"endpoint": control, "rate_limit_per_s": 100, "rate_burst": 100,
                 "curve": {"secret_key_file": sensor_key, "authorized_keys_file": str(authorized)}},
        blocklist={"roles": ["wan"], "entries": [{"prefix": "100.64.0.0/16", "reason": "cgnat scanner"}]},
        metrics={"listen": f"127.0.0.1:{metrics_port}"})
    # The attacker: a second address in the WAN namespace (the gateway knows its MAC: no ARP).
    lab.exec(lab.wan, ["ip", "addr", "add", f"{ATTACKER}/24", "dev", "eth0"])
    lab.exec(lab.gw, ["ip", "neigh", "replace", ATTACKER, "lladdr", "02:53:00:64:00:10", "dev", "wan0",
                      "nud", "permanent"])

    def block(*args):
        """`sniffer block` run by the detector in the WAN namespace (source address Addr.WAN4_PEER)."""
        return lab.exec(lab.wan, [env.sniffer, "block", "--endpoint", control, "--server-key", sensor_pub,
                                  "--key-file", detector_key, "--name", "e2e-detector", "--timeout-ms", "3000",
                                  *args], check=False)

    def refused(prefix, expected, *args):
        result = block("add", prefix, "--duration", "60", *args)
        assert result.returncode == 1, f"add {prefix} was not refused:\n{result.stdout}{result.stderr}"
        assert f"refused (REFUSED): {expected}" in result.stderr, result.stderr
        # The control path still answers, from the WAN side.
        assert block("list").returncode == 0, f"no answer after add {prefix}"

    assert block("list").returncode == 0, "the control socket does not answer the WAN side"
    assert lan_echoes_from(lab, ATTACKER) == 3 and lan_echoes_from(lab, Addr.WAN4_PEER) == 3

    refused("0.0.0.0/0", "blocklist.min_prefix_v4 is 16: 0.0.0.0/0 is broader")
    refused("::/0", "blocklist.min_prefix_v6 is 32: ::/0 is broader")
    refused("198.51.100.0/30", f"198.51.100.0/30 would cover the sensor's address {Addr.WAN4_GW} {REFUSAL_SUFFIX}")
    refused("2001:db8:100::/64", f"2001:db8:100::/64 would cover the sensor's address {Addr.WAN6_GW}")
    refused("192.0.2.1", "192.0.2.1/32 would cover the sensor's address 192.0.2.1", "--direction", "dst")
    refused("198.51.100.8/29",
            f"198.51.100.8/29 would cover the address of this command's sender {Addr.WAN4_PEER} {REFUSAL_SUFFIX}")
    refused(Addr.WAN4_PEER, f"{Addr.WAN4_PEER}/32 would cover the address of this command's sender",
            "--direction", "dst")
    assert lan_echoes_from(lab, Addr.WAN4_PEER) == 3, "a refused block reached the kernel"

    # A legitimate /32: the attacker is dropped at the WAN NIC, the client next to it is not.
    added = block("add", ATTACKER, "--duration", "60", "--reason", "e2e attacker")
    assert added.returncode == 0, added.stderr
    assert lan_echoes_from(lab, ATTACKER) == 0, "pings from a blocked source got through"
    assert lan_echoes_from(lab, Addr.WAN4_PEER) == 3
    listed = block("list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {f"{ATTACKER}/32", "100.64.0.0/16"}, listed.stdout
    attacker_row = rows[f"{ATTACKER}/32"]
    assert int(attacker_row.split()[4]) >= 3, attacker_row
    assert "(in " in attacker_row and " s)" in attacker_row, attacker_row  # expiry, with the seconds left
    assert (f'control: e2e-detector (key {open(detector_pub).read().strip()} "wan-detector", '
            f'from {Addr.WAN4_PEER}): "e2e attacker"') in attacker_row, attacker_row
    static_row = rows["100.64.0.0/16"]
    assert static_row.split()[5] == "never" and 'config blocklist.entries[0]: "cgnat scanner"' in static_row

    assert block("del", ATTACKER).returncode == 0
    assert lan_echoes_from(lab, ATTACKER) == 3, "the attacker is still dropped after del"
    assert block("list").returncode == 0

    # The sensor gains an address a control entry covers (a DHCP lease, a router advertisement any link
    # peer may send): the entry stays and still drops the rest of its prefix; only that address is
    # exempted (round 16 removed the entry for good: red team, round 17).
    assert block("add", "198.51.100.16/28", "--duration", "60").returncode == 0  # the attacker's .20 inside
    lab.exec(lab.gw, ["ip", "addr", "add", "198.51.100.17/32", "dev", "wan0"])
    assert wait_log(daemon, "blocklist: the sensor's address 198.51.100.17 is inside the src entry 198.51.100.16/28 "
                            "(control: e2e-detector", timeout=5), daemon.stderr()
    assert "198.51.100.16/28" in block("list").stdout
    assert lan_echoes_from(lab, ATTACKER) == 0, "the rest of the entry no longer drops"

    _, samples = scrape(lab, metrics_port)
    expected = {"min_prefix": 2, "sensor_address": 3, "control_client": 2, "control_endpoint": 0, "protected": 0,
                "allowlist": 0}
    for reason, n in expected.items():
        assert samples[f'sniffer_blocklist_refused_total{{reason="{reason}"}}'] == n, (reason, samples)
    report = daemon.stop()
    bl = report["userspace"]["blocklist"]
    assert bl["refused"] == expected
    assert bl["control"]["block"] == {"refused": 7, "ok": 2}
    assert bl["revoked"] == 0 and bl["exemptions"] == 1
    log = daemon.stderr()
    assert "asked to block 0.0.0.0/0" in log and "wan-detector" in log


def test_static_entries_that_would_lock_out_are_config_errors_at_start_and_at_reload(env, lab, start_daemon,
                                                                                     tmp_path):
    # Without any host: 0.0.0.0/0, ::/0 and a prefix over blocklist.protected are config errors.
    def print_config(blocklist):
        config = tmp_path / "static.json"
        config.write_text(json.dumps({"interfaces": [{"name": "lo", "role": "wan", "mode": "host-based"}],
                                      "blocklist": blocklist}))
        result = run([env.sniffer, "--config", config, "--print-config"], check=False)
        assert result.returncode == 1, f"accepted:\n{result.stdout}{result.stderr}"
        return result.stderr

    errors = print_config({"entries": [{"prefix": "0.0.0.0/0"}, {"prefix": "::/0"}]})
    assert "blocklist.entries[0].prefix: blocklist.min_prefix_v4 is 16: 0.0.0.0/0 is broader" in errors
    assert "blocklist.entries[1].prefix: blocklist.min_prefix_v6 is 32: ::/0 is broader" in errors
    errors = print_config({"protected": ["10.20.30.0/24"], "entries": [{"prefix": "10.20.0.0/16"}]})
    assert "blocklist.entries[0].prefix: 10.20.0.0/16 would cover blocklist.protected[0] 10.20.30.0/24" in errors

    # At reload: a refused entry keeps the running configuration, entries and all.
    sensor_pub, sensor_key = keygen(env, tmp_path / "sensor")
    detector_pub, detector_key = keygen(env, tmp_path / "detector")
    authorized = tmp_path / "detectors"
    authorized.write_text(open(detector_pub).read())
    control = f"ipc://{tmp_path}/control.sock"
    daemon = start_daemon(
        control={"endpoint": control,
                 "curve": {"secret_key_file": sensor_key, "authorized_keys_file": str(authorized)}},
        blocklist={"entries": [{"prefix": "100.64.0.0/16", "reason": "cgnat scanner"}]})

    def block(*args):
        return run([env.sniffer, "block", "--endpoint", control, "--server-key", sensor_pub, "--key-file",
                    detector_key, "--timeout-ms", "3000", *args], check=False)

    assert block("add", ATTACKER, "--reason", "from a detector").returncode == 0

    def reload(blocklist, expect):
        cfg = dict(daemon.config, blocklist=blocklist)
        daemon.config_path.write_text(json.dumps(cfg))
        daemon.proc.send_signal(signal.SIGHUP)
        assert wait_log(daemon, expect, timeout=5), daemon.stderr()

    reload({"entries": [{"prefix": "100.64.0.0/16"}, {"prefix": "10.0.0.0/16"}], "protected": ["10.0.1.0/24"]},
           "reload rejected, the running configuration stays")
    assert "blocklist.entries[1].prefix: 10.0.0.0/16 would cover blocklist.protected[0] 10.0.1.0/24" in daemon.stderr()
    listed = block("list").stdout
    assert "100.64.0.0/16" in listed and "10.0.0.0/16" not in listed and f"{ATTACKER}/32" in listed, listed
    # An entry over the sensor's own address is no error: that address is exempted from it (test above).
    reload({"entries": [{"prefix": "100.64.0.0/16"}, {"prefix": "198.51.100.0/28", "reason": "oops"}]},
           f"blocklist: the sensor's address {Addr.WAN4_GW} is inside the src entry 198.51.100.0/28 "
           f"(config blocklist.entries[1])")
    listed = block("list").stdout
    assert "100.64.0.0/16" in listed and "198.51.100.0/28" in listed and f"{ATTACKER}/32" in listed, listed

    # A reload that protects the control entry's network removes that entry (logged); static ones change.
    reload({"entries": [{"prefix": "100.65.0.0/16", "reason": "new static"}], "protected": ["198.51.100.16/28"]},
           "reload: applied")
    listed = block("list").stdout
    assert "100.65.0.0/16" in listed and "100.64.0.0/16" not in listed and ATTACKER not in listed, listed
    assert f"{ATTACKER}/32 (src) removed" in daemon.stderr()
    refused = block("add", "198.51.100.17")
    assert refused.returncode == 1 and "is inside blocklist.protected[0] 198.51.100.16/28" in refused.stderr

    bl = daemon.stop()["userspace"]["blocklist"]
    assert bl["refused"]["protected"] == 1  # the control add (a reload is refused by validation, uncounted)
    assert bl["revoked"] == 1 and bl["exemptions"] == 0
