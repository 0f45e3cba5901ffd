"""Live reload (SIGHUP): roles, interfaces and filters change without reloading the
programs or losing records; an invalid config is rejected and the old one keeps running."""
import json
import os
import pwd
import signal
import subprocess
import sys
import time

from e2e_support import SENDER, Addr, Daemon, lab_config, random_ports, scrape_until, wait_log

UDP_BURST = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"x", (sys.argv[1], 9))
"""

ROLE_WAN, ROLE_LAN = 1, 2


def rewrite(daemon, **overrides):
    config = json.loads(daemon.config_path.read_text().split("\n", 1)[1])
    for key, value in overrides.items():
        config[key] = value
    daemon.config_path.write_text("// rewritten by test_reload.py\n" + json.dumps(config, indent=2))


def reload_with(daemon, **overrides):
    """Rewrites the config, sends SIGHUP; True once the daemon logs one more "reload: applied"."""
    before = daemon.stderr().count("reload: applied")
    rewrite(daemon, **overrides)
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while daemon.stderr().count("reload: applied") == before:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_sighup_changes_a_role_and_loses_nothing(lab, start_daemon, subscribe, echo_servers):
    daemon = start_daemon()
    sub = subscribe(daemon.endpoint)
    sport, dport = random_ports(2)
    echo_servers.start(lab.lan, [(Addr.LAN4_PEER, dport)])
    time.sleep(0.5)
    # Traffic flows across the reload: requests enter wan0 (unchanged), echoes enter lan0.
    sender = lab.popen(lab.wan, [sys.executable, "-c", SENDER, Addr.LAN4_PEER, dport, sport, 2.0],
                       stdout=subprocess.PIPE, text=True)
    time.sleep(0.7)
    config = json.loads(daemon.config_path.read_text().split("\n", 1)[1])
    config["interfaces"][1]["mode"] = "host-based"  # lan0: gateway -> host-based
    config["interfaces"][1]["hooks"] = ["xdp"]
    assert reload_with(daemon, interfaces=config["interfaces"]), daemon.stderr()
    sent = int(sender.communicate(timeout=10)[0])
    time.sleep(0.3)
    report = daemon.stop()
    sub.stop()

    ours = [e for e in sub.events if e.l4_protocol == 17 and dport in (e.src_port, e.dst_port)]
    requests = [e for e in ours if e.interface == "wan0" and e.hook == 1 and e.dst_port == dport]
    echoes = [e for e in ours if e.interface == "lan0" and e.hook == 1]
    assert len(requests) == sent, f"sent {sent}, wan0 saw {len(requests)}"
    assert len(echoes) == sent
    modes = [e.mode for e in echoes]
    assert modes[0] == 2 and modes[-1] == 1, "lan0's events must switch from gateway to host-based"
    switch = modes.index(1)
    assert all(m == 2 for m in modes[:switch]) and all(m == 1 for m in modes[switch:])
    assert all(e.mode == 1 for e in requests)  # wan0 is host-based throughout
    assert report["kernel"]["ringbuf_full"] == 0
    assert "attached xdp" in daemon.stderr().split("reload")[0]
    assert daemon.stderr().count("attached xdp") == 2, "unchanged interfaces must not be re-attached"


def assert_the_running_config_stays(lab, daemon, sub):
    """After a rejected reload: the daemon runs on, and lan0's events still say LAN."""
    lab.ping(lab.wan, Addr.LAN4_PEER, count=2)
    time.sleep(0.3)
    assert daemon.running()
    daemon.stop()
    sub.stop()
    lan_events = [e for e in sub.events if e.interface == "lan0"]
    assert lan_events and all(e.role == ROLE_LAN for e in lan_events)


def test_invalid_reload_keeps_the_running_config(lab, start_daemon, subscribe):
    daemon = start_daemon()
    sub = subscribe(daemon.endpoint)
    daemon.config_path.write_text('{"interfaces": [{"name": "wan0", "role": "dmz", "mode": "gateway"}], "bogus": 1}')
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_log(daemon, "reload rejected"), daemon.stderr()
    log = daemon.stderr()
    assert "interfaces[0].role" in log and "bogus: unknown key" in log, log
    assert_the_running_config_stays(lab, daemon, sub)


def test_a_config_any_local_user_can_change_is_not_reloaded(lab, start_daemon, subscribe):
    """A config file made world-writable lets any local user steer the sensor (its blocklist, its
    outputs) at the next SIGHUP: the reload is refused, naming the mode and the chmod, and the
    running config stays."""
    daemon = start_daemon()
    sub = subscribe(daemon.endpoint)
    config = json.loads(daemon.config_path.read_text().split("\n", 1)[1])
    config["interfaces"][1]["role"] = "wan"  # lan0 would become WAN-facing
    daemon.config_path.write_text(json.dumps(config))
    daemon.config_path.chmod(0o666)
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_log(daemon, "reload rejected"), daemon.stderr()
    log = daemon.stderr()
    assert f'config file "{daemon.config_path}": mode 0666 lets any local user change' in log, log
    assert f'(chmod o-w "{daemon.config_path}")' in log, log
    assert_the_running_config_stays(lab, daemon, sub)


def test_reload_adds_and_removes_an_interface(lab, start_daemon):
    daemon = start_daemon(interfaces=[{"name": "wan0", "role": "wan", "mode": "gateway"}])
    assert "xdp" not in lab.links()["lan0"]
    config = json.loads(daemon.config_path.read_text().split("\n", 1)[1])
    config["interfaces"].append({"name": "lan0", "role": "lan", "mode": "gateway"})
    assert reload_with(daemon, interfaces=config["interfaces"]), daemon.stderr()
    assert "xdp" in lab.links()["lan0"], "lan0 not attached after the reload"
    lab.ping(lab.lan, Addr.WAN4_PEER, count=1)
    lab.exec(lab.lan, [sys.executable, "-c", UDP_BURST, Addr.WAN4_PEER, "100"])  # 100 UDP packets into lan0

    config["interfaces"].pop()
    assert reload_with(daemon, interfaces=config["interfaces"]), daemon.stderr()
    assert "xdp" not in lab.links()["lan0"], "lan0 still attached after its removal"
    assert "xdp" in lab.links()["wan0"]
    assert "lan0: no longer monitored" in daemon.stderr()

    # Added again, lan0 takes the freed counter slot: its counters start from zero, while
    # the sensor's totals keep what its first incarnation counted.
    config["interfaces"].append({"name": "lan0", "role": "lan", "mode": "gateway"})
    assert reload_with(daemon, interfaces=config["interfaces"]), daemon.stderr()
    assert "xdp" in lab.links()["lan0"], "lan0 not attached after it was added again"
    report = daemon.stop()
    interfaces = report["kernel"]["interfaces"]
    assert interfaces.keys() == {"wan0", "lan0"}
    # (An IPv6 neighbour discovery packet may reach lan0 after the re-attach: UDP cannot.)
    assert interfaces["lan0"]["packets"]["xdp_ingress"]["udp"] == 0, interfaces["lan0"]
    assert report["kernel"]["packets"]["xdp_ingress"]["udp"] >= 100, "the first lan0's packets left the totals"


def test_a_hook_that_fails_on_reload_leaves_the_others_attached(lab, start_daemon, tmp_path):
    """A reload adds an interface whose XDP hook another sensor holds and changes wan0's xdp_mode:
    a0's attach fails, but wan0 gets its new hook (or keeps its old one), the blocklist of the same
    reload is enforced, and the gauge names the interface with a missing hook."""
    lab.exec(lab.gw, ["ip", "link", "add", "a0", "type", "veth", "peer", "name", "a0p"])
    for name in ("a0", "a0p"):
        lab.exec(lab.gw, ["ip", "link", "set", name, "up"])
    holder = start_daemon(interfaces=[{"name": "a0", "role": "lan", "mode": "gateway", "hooks": ["xdp"]}],
                          pin_path="", metrics={"listen": ""})
    assert "xdp" in lab.links()["a0"], "the other sensor holds a0's XDP hook"
    port = random_ports(1)[0]
    daemon = start_daemon(metrics={"listen": f"127.0.0.1:{port}"})
    lab.ping(lab.wan, Addr.LAN4_PEER, count=1)  # not blocked yet

    config = json.loads(daemon.config_path.read_text().split("\n", 1)[1])
    config["interfaces"][0]["xdp_mode"] = "generic"
    config["interfaces"].append({"name": "a0", "role": "lan", "mode": "gateway", "hooks": ["xdp"]})
    before = daemon.stderr().count("hooks are missing")
    rewrite(daemon, interfaces=config["interfaces"],
            blocklist={"entries": [{"prefix": Addr.WAN4_PEER + "/32", "action": "drop"}]})
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_log(daemon, "reload applied, but hooks are missing"), daemon.stderr()
    log = daemon.stderr()
    assert log.count("hooks are missing") == before + 1 and 'a0' in log.split("hooks are missing")[-1], log
    assert daemon.running()
    assert lab.links()["wan0"].get("xdp", {}).get("mode") == 2, f"wan0 not in generic XDP: {lab.links()['wan0']}"
    lost = lab.exec(lab.wan, ["ping", "-c", "2", "-W", "1", "-i", "0.2", Addr.LAN4_PEER], check=False)
    assert lost.returncode != 0, "the reload's block of the WAN peer is not enforced"
    samples = scrape_until(lab, port, lambda m: m.get('sniffer_interface_hooks_missing{interface="a0"}') == 1)
    assert samples.get('sniffer_interface_hooks_missing{interface="a0"}') == 1, samples
    assert samples.get('sniffer_interface_hooks_missing{interface="wan0"}') == 0, samples
    assert holder.running()

    # The holder lets go: the retries (1, 2, 4... s apart) attach a0 without a SIGHUP (red team
    # R12-9: nothing retried before), and the gauge goes back to 0.
    holder.stop()
    assert "xdp" not in lab.links()["a0"]
    assert wait_log(daemon, "the missing hook(s) attached again", timeout=40), daemon.stderr()[-3000:]
    assert "xdp" in lab.links()["a0"]
    samples = scrape_until(lab, port, lambda m: m.get('sniffer_interface_hooks_missing{interface="a0"}') == 0)
    assert samples.get('sniffer_interface_hooks_missing{interface="a0"}') == 0, samples
    daemon.stop()


def test_a_fifo_config_is_refused_without_waiting_and_stray_signals_are_ignored(lab, start_daemon, subscribe):
    """A reload that read a FIFO waited for its writer, stopping the capture loop; SIGUSR1/2
    (default action: terminate) killed the daemon with no final report."""
    import os
    daemon = start_daemon()
    sub = subscribe(daemon.endpoint)
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        daemon.proc.send_signal(sig)
    daemon.config_path.rename(daemon.config_path.with_suffix(".saved"))
    os.mkfifo(daemon.config_path)
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_log(daemon, "reload rejected"), daemon.stderr()
    assert "not a regular file" in daemon.stderr(), daemon.stderr()
    start = sub.count()
    lab.ping(lab.wan, Addr.LAN4_PEER, count=2)  # the loop still drains the ring
    deadline = time.monotonic() + 3
    while sub.count() - start < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sub.count() - start >= 4, "no events after the refused reload"
    assert daemon.running()
    report = daemon.stop()
    sub.stop()
    assert report["kernel"]["ringbuf_full"] == 0


def test_an_xdp_mode_the_driver_lacks_keeps_the_old_mode_without_retrying(lab, start_daemon):
    """Red team R13-5: a reload asking native XDP on lo (no native XDP) kept generic, but counted
    the hook missing, and the retries detached the working program and attached it again every
    1, 2, 4 ... 30 s forever, two log lines each. Now it is said once, the hook counts attached
    (sniffer_interface_hooks_missing 0) and stays untouched until the next SIGHUP tries again."""
    port = random_ports(1)[0]
    interfaces = [{"name": "wan0", "role": "wan", "mode": "gateway"},
                  {"name": "lo", "role": "lan", "mode": "gateway", "xdp_mode": "generic"}]
    daemon = start_daemon(interfaces=interfaces, metrics={"listen": f"127.0.0.1:{port}"})
    interfaces[1]["xdp_mode"] = "native"
    rewrite(daemon, interfaces=interfaces)
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_log(daemon, "(xdp_mode is now native)"), daemon.stderr()
    time.sleep(4.5)  # the old retries: at 1 and 3 s
    log = daemon.stderr()
    assert log.count("detached xdp generic") == 1, log
    assert "reload applied, but an xdp_mode change did not take" in log, log
    assert log.count("xdp_mode native is not available here: kept XDP in its previous mode") == 1, log
    samples = scrape_until(lab, port, lambda m: 'sniffer_interface_hooks_missing{interface="lo"}' in m)
    assert samples.get('sniffer_interface_hooks_missing{interface="lo"}') == 0, samples
    assert lab.links()["lo"].get("xdp", {}).get("mode") == 2, lab.links()["lo"]
    daemon.proc.send_signal(signal.SIGHUP)  # a SIGHUP tries native again, once
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and daemon.stderr().count("detached xdp generic") < 2:
        time.sleep(0.1)
    assert daemon.stderr().count("detached xdp generic") == 2, daemon.stderr()
    report = daemon.stop()
    assert report["userspace"]["interface_events"]["lo"]["hooks_missing"] == 0, report["userspace"]["interface_events"]


def test_a_config_another_user_owns_is_warned_of_at_start_and_at_each_reload(env, lab, tmp_path):
    """Red team R18-1: the owner of the config file steers the sensor at the next SIGHUP. Not refused
    (an operator's `sudo sniffer --config ./sniffer.json` on a file of their own account), but said
    once at start and once at each reload, naming the file and its owner."""
    daemon = Daemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/owned.sock"))
    os.chown(daemon.config_path, 65534, 65534)
    warning = (f'config "{daemon.config_path}": owned by uid 65534 ({pwd.getpwuid(65534).pw_name}), who can change '
               "the sensor's configuration at the next reload; chown root or keep it where only root can write")
    try:
        daemon.start()
        assert daemon.stderr().count(warning) == 1, daemon.stderr()
        assert reload_with(daemon, sensor_id="reloaded"), daemon.stderr()
        assert daemon.stderr().count(warning) == 2, daemon.stderr()
    finally:
        daemon.terminate()


def test_a_root_owned_config_is_not_warned_of(lab, start_daemon):
    daemon = start_daemon()
    assert reload_with(daemon, sensor_id="reloaded"), daemon.stderr()
    assert "who can change the sensor's configuration" not in daemon.stderr(), daemon.stderr()
