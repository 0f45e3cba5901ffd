"""Blocks added over the control socket survive a restart (blocklist.state_file): the real daemon,
the real `sniffer block` client, the lab's attacker pinging through the gateway. Added blocks come
back, still enforced and with their expiry, after SIGTERM and after SIGKILL; a removed one stays
removed; one that expired while the sensor was stopped is dropped. A corrupt file is named, set
aside and kept; a full disk (a small tmpfs) leaves the block applied, counted, logged, warned in the
replies while the file is behind, and written once there is room again; two sensors cannot share one file.
A reload that lowers blocklist.max_duration_s shortens the blocks in place: the kernel's entries and the file."""
import calendar
import json
import os
import time

import pytest

from e2e_support import Addr, fill, run, scrape, scrape_until, small_tmpfs, wait_log
from test_blocklist import control_socket, lan_peer_echo_requests
from test_reload import reload_with
from test_single_instance import run_second_sensor


@pytest.fixture
def block_sensor(env, lab, start_daemon, tmp_path):
    """(start(**overrides) -> Daemon, block(*args) -> CompletedProcess, state file path)."""
    control, sensor_pub, detector_key = control_socket(env, tmp_path, "detector")
    control.update(rate_limit_per_s=100, rate_burst=100)
    state = tmp_path / "state" / "blocklist.json"  # its directory does not exist yet: the daemon makes it

    def start(state_file=state, **overrides):
        blocklist = {"roles": ["wan"], "max_duration_s": 3600, "state_file": str(state_file),
                     **overrides.pop("blocklist", {})}
        return start_daemon(control=control, blocklist=blocklist, **overrides)

    def block(*args):
        return run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub, "--key-file",
                    detector_key, "--name", "e2e-detector", "--timeout-ms", "3000", *map(str, args)], check=False)

    return start, block, state


def rows(block):
    """{prefix: the `sniffer block list` row's expiry and origin columns}."""
    listed = block("list")
    assert listed.returncode == 0, listed.stderr
    out = {}
    for line in listed.stdout.splitlines()[1:]:
        cells = line.split()
        if len(cells) > 6 and "/" in cells[1]:
            out[cells[1]] = " ".join([cells[5]] + cells[9:])  # expiry time, origin and reason (not "(in N s)")
    return out


def saved_prefixes(state, expected, timeout=5.0):
    """The prefixes in the state file once they are `expected` (the file is written after the
    reply, by a thread of its own), or those at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        saved = [e["prefix"] for e in json.loads(state.read_text())["entries"]] if state.exists() else None
        if saved == expected or time.monotonic() >= deadline:
            return saved
        time.sleep(0.05)


def attacker_blocked(lab):
    """True when pings from the WAN peer no longer reach the client namespace."""
    before = lan_peer_echo_requests(lab)
    lab.ping(lab.wan, Addr.LAN4_PEER, count=2, wait=1)
    return lan_peer_echo_requests(lab) == before


def test_blocks_come_back_enforced_after_a_restart_and_after_sigkill(lab, block_sensor):
    start, block, state = block_sensor
    daemon = start()
    assert not attacker_blocked(lab), "no traffic through the gateway before the block"
    attacker = f"{Addr.WAN4_PEER}/32"
    assert block("add", Addr.WAN4_PEER, "--duration", 600, "--reason", "e2e scan").returncode == 0
    assert block("add", "203.0.113.0/24", "--direction", "dst", "--duration", 600, "--reason", "c2").returncode == 0
    assert block("add", "198.51.100.77", "--duration", 600, "--reason", "removed").returncode == 0
    assert block("del", "198.51.100.77").returncode == 0
    assert block("add", "2001:db8:dead::/48", "--duration", 2, "--reason", "short").returncode == 0
    before = rows(block)
    assert set(before) == {attacker, "203.0.113.0/24", "2001:db8:dead::/48"}, before
    assert attacker_blocked(lab)
    time.sleep(2.5)  # the short block expires (with the sensor stopped, the next time)

    for how in ("SIGTERM", "SIGKILL"):
        if how == "SIGTERM":
            daemon.stop()
        else:
            daemon.proc.kill()
            daemon.proc.wait()
        daemon = start()
        after = rows(block)
        assert after == {k: v for k, v in before.items() if k != "2001:db8:dead::/48"}, (how, after)
        assert attacker_blocked(lab), f"the restored block does not drop after {how}"
        assert "control entries restored from" in daemon.stderr()
    assert "2 control entries restored" in daemon.stderr(), daemon.stderr()[-2000:]

    assert block("del", Addr.WAN4_PEER).returncode == 0
    daemon.stop()
    daemon = start()
    assert attacker not in rows(block)
    assert not attacker_blocked(lab), "a removed block came back"
    saved = json.loads(state.read_text())
    assert [e["prefix"] for e in saved["entries"]] == ["203.0.113.0/24"], saved
    daemon.stop()


def test_a_corrupt_state_file_is_named_set_aside_and_kept(lab, block_sensor):
    start, block, state = block_sensor
    state.parent.mkdir()
    garbage = '{"format": "sniffer blocklist state", "version": 1, "entries": [{"prefix": "198.51.'
    state.write_text(garbage)
    daemon = start()
    log = daemon.stderr()
    assert f"blocklist.state_file {state}: not JSON" in log, log[-2000:]
    aside = [p for p in state.parent.iterdir() if p.name.startswith("blocklist.json.bad-")]
    assert len(aside) == 1 and aside[0].read_text() == garbage, aside
    assert f"moved aside to {aside[0]}" in log
    assert block("add", Addr.WAN4_PEER, "--duration", 600).returncode == 0
    assert saved_prefixes(state, [f"{Addr.WAN4_PEER}/32"]) == [f"{Addr.WAN4_PEER}/32"]
    daemon.stop()


def test_a_full_disk_applies_the_block_warns_counts_and_writes_it_once_there_is_room(lab, block_sensor, tmp_path):
    start, block, _ = block_sensor
    with small_tmpfs(tmp_path / "full") as full:
        port = 20000 + (os.getpid() + 11) % 20000
        state = full / "blocklist.json"
        daemon = start(state_file=state, metrics={"listen": f"127.0.0.1:{port}"})
        filler = fill(full)
        added = block("add", Addr.WAN4_PEER, "--duration", 600, "--reason", "disk full")
        assert added.returncode == 0, added.stderr
        assert attacker_blocked(lab), "the block was not applied"
        # The file is written after the reply (by the writer thread): the failure shows in the
        # metrics and the log, and in the warning of every reply while the file is behind.
        samples = scrape_until(lab, port, lambda s: s.get("sniffer_blocklist_state_unsaved") == 1)
        assert samples["sniffer_blocklist_state_unsaved"] == 1
        assert samples["sniffer_blocklist_state_write_failures_total"] >= 1
        again = block("add", "198.51.100.9", "--duration", 600, "--reason", "disk still full")
        assert again.returncode == 0, again.stderr
        assert "warning: applied, not persisted" in again.stderr and "No space left on device" in again.stderr, (
            again.stderr)
        assert not state.exists() or f"{Addr.WAN4_PEER}" not in state.read_text()
        assert "the blocks are applied but not kept across a restart" in daemon.stderr()

        filler.unlink()
        samples = scrape_until(lab, port, lambda s: s.get("sniffer_blocklist_state_unsaved") == 0)
        assert samples["sniffer_blocklist_state_unsaved"] == 0, "not written again once there was room"
        assert wait_log(daemon, f"{state} written again")
        daemon.stop()
        daemon = start(state_file=state)
        assert f"{Addr.WAN4_PEER}/32" in rows(block)
        daemon.stop()


def test_a_full_disk_is_tried_again_on_a_backoff_and_a_last_write_that_fails_is_an_error(lab, block_sensor,
                                                                                           tmp_path):
    """Red team R13-3: on a full disk the whole file was serialized and written again every second
    (a third of a core for 60,000 entries), and a stop that could not write it exited without a word.
    Now the retries come 1, 2, 4 ... s apart, and the stop says what is lost."""
    start, block, _ = block_sensor
    with small_tmpfs(tmp_path / "full") as full:
        port = 20000 + (os.getpid() + 13) % 20000
        state = full / "blocklist.json"
        daemon = start(state_file=state, metrics={"listen": f"127.0.0.1:{port}"})
        fill(full)
        assert block("add", Addr.WAN4_PEER, "--duration", 600, "--reason", "disk full").returncode == 0
        samples = scrape_until(lab, port, lambda s: s.get("sniffer_blocklist_state_unsaved") == 1)
        first = samples["sniffer_blocklist_state_write_failures_total"]
        time.sleep(8.5)
        _, samples = scrape(lab, port)
        retries = samples["sniffer_blocklist_state_write_failures_total"] - first
        # Tried again after 1, 2 and 4 s (at 1, 3 and 7 s): every second would be 8.
        assert 1 <= retries <= 4, f"{retries} failed writes in 8.5 s after the first"
        report = daemon.stop()
        log = daemon.stderr()
        assert f"blocklist: {state} could not be written at stop" in log, log[-2000:]
        assert "the 1 control entries are not kept across this restart" in log, log[-2000:]
        assert report["userspace"]["blocklist"]["state_unsaved"] == 1, report["userspace"]["blocklist"]


def test_a_read_only_state_directory_still_starts_and_restores_the_blocks(lab, block_sensor, tmp_path):
    """Red team R13-10: after the state file's filesystem went read-only (ext4's errors=remount-ro),
    the next start failed on the lock file (O_RDWR|O_CREAT): no flows, no events, no blocking at all
    for the sake of the blocklist's persistence. Now the lock is taken read-only, the blocks come
    back, and the log says changes are not kept."""
    start, block, _ = block_sensor
    with small_tmpfs(tmp_path / "ro", size="1m") as ro:
        state = ro / "blocklist.json"
        daemon = start(state_file=state)
        assert block("add", Addr.WAN4_PEER, "--duration", 600, "--reason", "before ro").returncode == 0
        assert saved_prefixes(state, [f"{Addr.WAN4_PEER}/32"]) == [f"{Addr.WAN4_PEER}/32"]
        daemon.stop()
        run(["mount", "-o", "remount,ro", str(ro)])
        daemon = start(state_file=state)
        assert f"blocklist.state_file {state}: its filesystem is read-only" in daemon.stderr(), daemon.stderr()[-2000:]
        assert f"{Addr.WAN4_PEER}/32" in rows(block)
        assert attacker_blocked(lab), "the restored block is not enforced"
        assert wait_log(daemon, "the blocks are applied but not kept across a restart"), daemon.stderr()[-2000:]
        added = block("add", "198.51.100.9", "--duration", 600)
        assert added.returncode == 0 and "warning: applied, not persisted" in added.stderr, added.stderr
        daemon.stop()


def test_two_sensors_never_share_one_state_file(env, lab, block_sensor, tmp_path):
    start, _, state = block_sensor
    first = start()
    # Another pin path (instance lock) and endpoints: only the state file is shared.
    second = run_second_sensor(env, lab, tmp_path, first,
                               control=dict(first.config["control"], endpoint=f"ipc://{tmp_path}/control-2.sock"))
    assert second.returncode == 1, second.stderr
    assert f"blocklist.state_file {state} is in use by another sniffer (pid {first.proc.pid}," in second.stderr, (
        second.stderr)
    assert first.running()
    first.stop()


def kernel_block_ends(daemon, map_name="block_src_v4"):
    """{rule id: expires_ns (CLOCK_MONOTONIC)} of the kernel's trie, read through its pin (in the
    daemon's mount namespace: `ip netns exec` gives it a bpffs of its own)."""
    out = {}
    dump = ["nsenter", "--target", str(daemon.proc.pid), "--mount", "bpftool", "-j", "map", "dump", "pinned",
            f"{daemon.config['pin_path']}/{map_name}"]
    for item in json.loads(run(dump).stdout):
        if "formatted" in item:
            value = item["formatted"]["value"]
            out[value["rule_id"]] = value["expires_ns"]
        else:  # raw bytes: expires_ns at 0, rule_id at 16 (abi.h), little-endian
            raw = bytes(int(b, 16) for b in item["value"])
            out[int.from_bytes(raw[16:20], "little")] = int.from_bytes(raw[0:8], "little")
    return out


def test_a_reload_that_lowers_max_duration_shortens_the_blocks_in_place(lab, block_sensor):
    """The base kept a block's old end after a SIGHUP that lowered the limit: a 600 s block still
    ended in 600 s with max_duration_s 30, in the kernel, in `block list` and in the state file."""
    start, block, state = block_sensor
    daemon = start()  # max_duration_s 3600
    assert block("add", Addr.WAN4_PEER, "--duration", 600, "--reason", "long").returncode == 0
    assert block("add", "198.51.100.9", "--duration", 20, "--reason", "short").returncode == 0
    before = rows(block)
    blocklist = dict(daemon.config["blocklist"], max_duration_s=30, default_duration_s=30)
    assert reload_with(daemon, blocklist=blocklist), daemon.stderr()[-2000:]
    latest_wall, latest_mono = time.time_ns() + 30 * 10**9, time.monotonic_ns() + 30 * 10**9

    after = rows(block)
    assert after["198.51.100.9/32"] == before["198.51.100.9/32"], "a block within the new limit changed"
    end = after[f"{Addr.WAN4_PEER}/32"].split()[0]
    assert calendar.timegm(time.strptime(end, "%Y-%m-%dT%H:%M:%SZ")) <= latest_wall // 10**9 + 1, after
    ends = kernel_block_ends(daemon)
    assert len(ends) == 2 and all(0 < e <= latest_mono for e in ends.values()), (ends, latest_mono)
    assert attacker_blocked(lab), "the shortened block no longer drops"

    deadline = time.monotonic() + 5
    while True:  # written after the reload, by the writer thread
        saved = {e["prefix"]: e["expires_ns"] for e in json.loads(state.read_text())["entries"]}
        if saved[f"{Addr.WAN4_PEER}/32"] <= latest_wall or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert all(0 < e <= latest_wall for e in saved.values()), saved
    assert "blocklist: 1 control entries ended later than blocklist.max_duration_s (30 s) from now" in (
        daemon.stderr()), daemon.stderr()[-2000:]
    daemon.stop()
