"""One sensor per pin path and endpoint: a second start, as the systemd service and a shell
would collide on one gateway, changes nothing of the running sensor; a failed start leaves
nothing behind; a clean exit removes its socket file; the pin hint works as printed.

The daemons run with `nsenter --net` (the host's mount namespace, so both see the host's
bpffs, as a service and a shell do), except the hint test, which runs under `ip netns exec`
(a private bpffs)."""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import service_user
from e2e_support import REPO_ROOT, Addr, NotifySocket, Subscriber, lab_config, run, wait_ready, warm_up
from service_user import service_beside_root_command, temporary_user, unit_capabilities, user_directory, user_ids

LOCK_DIR = "/run/sniffer"


def ensure_bpffs():
    if subprocess.run(["mountpoint", "-q", "/sys/fs/bpf"]).returncode != 0:
        run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])


def lock_file(pin_dir):
    return os.path.join(LOCK_DIR, pin_dir.strip("/").replace("-", "\\x2d").replace("/", "-") + ".lock")


class HostDaemon:
    """The real daemon in the lab's sensor namespace, in the host's mount namespace."""

    def __init__(self, env, lab, tmp_path, config, name):
        self.config_path = tmp_path / f"{name}.json"
        self.config_path.write_text(json.dumps(config))
        self.err_path = tmp_path / f"{name}.stderr"
        self.out_path = tmp_path / f"{name}.stdout"
        self.cmd = ["nsenter", f"--net=/run/netns/{lab.gw}", str(env.sniffer), "--config", str(self.config_path)]
        self.proc = None

    def start(self):
        notify = NotifySocket()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=notify.env())
        wait_ready(self.proc, notify, self.stderr)
        return self

    def run_to_exit(self, timeout=15):
        """Runs the daemon expecting it to exit by itself: (exit code, stderr)."""
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"sniffer did not exit by itself within {timeout} s:\n{self.stderr()}", pytrace=False)
        return self.proc.returncode, self.stderr()

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def daemon_pid(self):
        """The daemon's pid (a wrapper around it overrides this)."""
        return self.proc.pid

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.daemon_pid(), signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


@pytest.fixture
def sensors():
    started = []
    yield started
    for daemon in started:
        daemon.stop()


def new_pin_dir(lab):
    return f"/sys/fs/bpf/{lab.prefix}-{secrets.token_hex(2)}"


def pinned_map_ids(pin_dir):
    ids = {}
    for name in sorted(os.listdir(pin_dir)):
        info = json.loads(run(["bpftool", "-j", "map", "show", "pinned", f"{pin_dir}/{name}"]).stdout)
        ids[name] = info["id"]
    return ids


def attached_xdp(lab):
    """{interface: XDP program id} in the sensor namespace."""
    return {name: link["xdp"]["prog"]["id"] for name, link in lab.links().items() if "xdp" in link}


def tc_filters(lab, dev):
    out = run(["ip", "netns", "exec", lab.gw, "tc", "filter", "show", "dev", dev, "egress"], check=False).stdout
    tcx = run(["ip", "netns", "exec", lab.gw, "bpftool", "net", "show", "dev", dev], check=False).stdout
    return out.strip() + ("\n" + tcx if "tcx" in tcx and "sniffer" in tcx else "")


def assert_receives(env, lab, endpoint, what):
    """A NEW subscriber on `endpoint` receives packet events of fresh pings."""
    sub = Subscriber(env, endpoint)
    try:
        warm_up(lab, sub.count)
    finally:
        sub.stop(quiet=0.1)
    assert sub.count() > 0, what


def test_second_start_with_the_same_config_changes_nothing(env, lab, tmp_path, sensors):
    ensure_bpffs()
    pin_dir = new_pin_dir(lab)
    endpoint = f"ipc://{tmp_path}/pub.sock"
    config = lab_config(endpoint, pin_path=pin_dir, metrics={"listen": ""})
    first = HostDaemon(env, lab, tmp_path, config, "first").start()
    sensors.append(first)
    running = Subscriber(env, endpoint)
    try:
        warm_up(lab, running.count)
        ids_before = pinned_map_ids(pin_dir)
        sock_before = os.stat(endpoint[len("ipc://"):]).st_ino
        xdp_before = attached_xdp(lab)

        second = HostDaemon(env, lab, tmp_path, config, "second")
        started = time.monotonic()
        code, err = second.run_to_exit()
        elapsed = time.monotonic() - started

        assert code == 1, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line, got:\n{err}"
        assert f"another sniffer (pid {first.proc.pid}) holds {pin_dir}" in lines[0], err
        assert elapsed < 5, f"the second start took {elapsed:.1f} s to give up"
        # Nothing of the running sensor changed: the same maps behind its pins, its
        # socket file, its programs; the running subscriber and a new one still receive.
        assert pinned_map_ids(pin_dir) == ids_before
        assert os.stat(endpoint[len("ipc://"):]).st_ino == sock_before
        assert attached_xdp(lab) == xdp_before
        seen = running.count()
        lab.ping(lab.wan, Addr.WAN4_GW, count=3)
        assert running.wait_for(lambda events: len(events) > seen), "the running subscriber stopped receiving"
    finally:
        running.stop(quiet=0.1)
    assert_receives(env, lab, endpoint, "a new subscriber of the running sensor got nothing")
    assert first.proc.poll() is None, "the running sensor exited"


def start_pinned_sensor(env, lab, tmp_path, sensors):
    """A running sensor with pins of its own -> (daemon, pin_dir, endpoint, its pinned map ids)."""
    ensure_bpffs()
    pin_dir = new_pin_dir(lab)
    endpoint = f"ipc://{tmp_path}/pub.sock"
    first = HostDaemon(env, lab, tmp_path, lab_config(endpoint, pin_path=pin_dir, metrics={"listen": ""}), "first")
    sensors.append(first.start())
    return first, pin_dir, endpoint, pinned_map_ids(pin_dir)


def assert_second_refused(env, lab, tmp_path, first, pin_path, endpoint, pin_dir, ids_before):
    """A second sensor on `pin_path` (`endpoint`) is refused by the lock `first` holds on `pin_dir`,
    before it touches a pin; the first runs on."""
    config = lab_config(endpoint, pin_path=pin_path, metrics={"listen": ""})
    code, err = HostDaemon(env, lab, tmp_path, config, "second").run_to_exit()
    assert code == 1, err
    assert f"another sniffer (pid {first.proc.pid}) holds {pin_dir} (lock {lock_file(pin_dir)})" in err, err
    assert "stale" not in err, err
    assert pinned_map_ids(pin_dir) == ids_before, "the running sensor's pins changed"
    assert first.proc.poll() is None, "the running sensor exited"


@pytest.mark.parametrize("spelling", ["{bpffs}//{name}", "{bpffs}/./{name}/"])
def test_pin_path_spelled_otherwise_is_the_same_lock(env, lab, tmp_path, sensors, spelling):
    """Another spelling of the running sensor's pin directory is the same lock: the second
    start is refused before it touches a pin (it used to take a lock of its own, replace the
    live pins as stale, fail on the endpoint and remove the whole directory)."""
    first, pin_dir, endpoint, ids_before = start_pinned_sensor(env, lab, tmp_path, sensors)
    assert ids_before, f"the running sensor pinned nothing under {pin_dir}"

    other = spelling.format(bpffs="/sys/fs/bpf", name=os.path.basename(pin_dir))
    assert_second_refused(env, lab, tmp_path, first, other, endpoint, pin_dir, ids_before)
    assert_receives(env, lab, endpoint, "the running sensor stopped publishing")


def test_ipc_endpoint_of_a_live_sensor_is_refused(env, lab, tmp_path, sensors):
    ensure_bpffs()
    endpoint = f"ipc://{tmp_path}/pub.sock"
    first = HostDaemon(env, lab, tmp_path, lab_config(endpoint, pin_path=new_pin_dir(lab), metrics={"listen": ""}),
                       "first").start()
    sensors.append(first)
    sock_before = os.stat(endpoint[len("ipc://"):]).st_ino
    other_pins = new_pin_dir(lab)
    # Another pin path (so another lock), the same socket file.
    second = HostDaemon(env, lab, tmp_path, lab_config(endpoint, pin_path=other_pins, metrics={"listen": ""}),
                        "second")
    code, err = second.run_to_exit()
    assert code == 1, err
    assert "publish.endpoint" in err and "in use by a live process" in err, err
    assert f"pid {first.proc.pid}" in err, err
    assert os.stat(endpoint[len("ipc://"):]).st_ino == sock_before, "the socket file was replaced"
    assert not os.path.exists(other_pins), "the refused start left its pins"
    assert_receives(env, lab, endpoint, "the running sensor's subscribers got nothing after the refused start")


def test_failed_starts_leave_nothing_behind(env, lab, tmp_path, sensors):
    ensure_bpffs()
    before_xdp = attached_xdp(lab)
    before_tc = tc_filters(lab, "wan0")

    def assert_no_residue(pin_dir, sock, why):
        assert not os.path.exists(pin_dir), f"{why}: pins left in {pin_dir}"
        assert not os.path.exists(sock), f"{why}: socket file {sock} left"
        assert not os.path.exists(lock_file(pin_dir)), f"{why}: lock file left"

    # 1. The publish socket cannot bind (after the pins): its directory does not exist. (A port in
    #    use no longer fails the start: test_port_squatters.py.)
    pin_dir, sock = new_pin_dir(lab), f"{tmp_path}/no-such-dir/busy.sock"
    daemon = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{sock}", pin_path=pin_dir, metrics={"listen": ""}),
                        "busy")
    code, err = daemon.run_to_exit()
    assert code == 1 and "publish.endpoint" in err and "no-such-dir" in err, err
    assert_no_residue(pin_dir, sock, "publish socket refused")
    assert attached_xdp(lab) == before_xdp and tc_filters(lab, "wan0") == before_tc

    # 2. A missing interface.
    pin_dir, sock = new_pin_dir(lab), f"{tmp_path}/missing.sock"
    config = lab_config(f"ipc://{sock}", pin_path=pin_dir, metrics={"listen": ""})
    config["interfaces"].append({"name": "nosuch0", "role": "lan", "mode": "gateway"})
    code, err = HostDaemon(env, lab, tmp_path, config, "missing").run_to_exit()
    assert code == 1 and "nosuch0" in err, err
    assert_no_residue(pin_dir, sock, "missing interface")

    # 3. Attach refused: another sensor (its own pin path and endpoint) holds the XDP hooks.
    first = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/first.sock", pin_path=new_pin_dir(lab),
                                                      metrics={"listen": ""}), "first").start()
    sensors.append(first)
    first_xdp, first_tc = attached_xdp(lab), tc_filters(lab, "wan0")
    pin_dir, sock = new_pin_dir(lab), f"{tmp_path}/refused.sock"
    code, err = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{sock}", pin_path=pin_dir, metrics={"listen": ""}),
                           "refused").run_to_exit()
    assert code == 1 and "XDP" in err, err
    assert_no_residue(pin_dir, sock, "attach refused")
    assert attached_xdp(lab) == first_xdp and tc_filters(lab, "wan0") == first_tc, "the refused start changed hooks"
    assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the running sensor stopped publishing")


def test_clean_exit_removes_socket_file_pins_and_lock(env, lab, tmp_path, sensors):
    ensure_bpffs()
    pin_dir, sock = new_pin_dir(lab), f"{tmp_path}/pub.sock"
    daemon = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{sock}", pin_path=pin_dir, metrics={"listen": ""}),
                        "clean").start()
    assert os.path.exists(sock) and os.path.exists(pin_dir) and os.path.exists(lock_file(pin_dir))
    with open(lock_file(pin_dir)) as f:
        assert f.read().strip() == str(daemon.proc.pid)
    assert daemon.stop() == 0, daemon.stderr()
    assert not os.path.exists(sock), "socket file left after a clean exit"
    assert not os.path.exists(pin_dir), "pins left after a clean exit"
    assert not os.path.exists(lock_file(pin_dir)), "lock file left after a clean exit"


def test_stale_ipc_socket_file_is_replaced_but_not_a_regular_file(env, lab, tmp_path, sensors):
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # a socket file nobody listens on: what a SIGKILLed sensor leaves
    daemon = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{stale}", pin_path="", metrics={"listen": ""}),
                        "stale").start()
    sensors.append(daemon)
    assert "removed a stale socket file" in daemon.stderr()
    daemon.stop()

    regular = tmp_path / "notes.txt"
    regular.write_text("an operator's file\n")
    code, err = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{regular}", pin_path="", metrics={"listen": ""}),
                           "regular").run_to_exit()
    assert code == 1 and "is not a socket" in err, err
    assert regular.read_text() == "an operator's file\n"


def test_pin_hint_under_ip_netns_exec_works_as_printed(lab, start_daemon):
    pin_dir = new_pin_dir(lab)
    daemon = start_daemon(pin_path=pin_dir, metrics={"listen": ""})  # under ip netns exec
    match = re.search(r"maps pinned under (\S+) in network namespace (\S+) \((.*bpftool map dump pinned \S+)\)",
                      daemon.stderr())
    assert match, daemon.stderr()
    assert match.group(1) == pin_dir and match.group(2) == lab.gw
    command = match.group(3)
    assert command.startswith(f"nsenter --target {daemon.proc.pid} --mount "), command
    # Run from the host, as an operator would paste it.
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, f"{command}: {result.stderr}"
    assert "key" in result.stdout, result.stdout
    # What iproute2 would suggest sees an empty bpffs: the reason the hint is nsenter.
    naive = subprocess.run(["ip", "netns", "exec", lab.gw, "bpftool", "map", "dump", "pinned", f"{pin_dir}/stats"],
                           capture_output=True, text=True, timeout=10)
    assert naive.returncode != 0


def run_second_sensor(env, lab, tmp_path, first, **sections):
    """A second sensor beside the running `first`: its config with another pin path (another
    instance lock), publish endpoint and no metrics port, and `sections`; run until it exits."""
    config = dict(first.config, **sections)
    config["pin_path"] = first.config["pin_path"] + "-second"
    config["publish"] = dict(config["publish"], endpoint=f"ipc://{tmp_path}/second.sock")
    config["metrics"] = {"listen": ""}
    path = tmp_path / "second.json"
    path.write_text(json.dumps(config))
    return lab.exec(lab.gw, [env.sniffer, "--config", path], check=False, timeout=30)


def test_an_interface_another_xdp_program_holds_is_one_error_with_both_modes_reasons(env, lab, tmp_path,
                                                                                    start_daemon):
    """A second sensor (its own pin path) on interfaces the first one's XDP links hold: native and
    generic attach both fail. One error says so with both reasons; no "trying generic" line comes
    before it as if generic had been the problem."""
    first = start_daemon()
    second = run_second_sensor(env, lab, tmp_path, first)
    assert second.returncode == 1, second.stderr
    assert "trying generic" not in second.stderr and "attached in generic mode" not in second.stderr, second.stderr
    error = [line for line in second.stderr.splitlines() if "attach XDP" in line]
    assert len(error) == 1, second.stderr
    assert "another XDP program is attached" in error[0], error[0]
    assert "native mode: Device or resource busy" in error[0] and "generic mode: " in error[0], error[0]
    assert first.running()


def test_a_symlink_to_a_live_pin_directory_is_the_same_lock(env, lab, tmp_path, sensors):
    """bpffs allows symbolic links: a second sensor on a link to the running sensor's pin
    directory replaced every live pin as stale and removed them all on its exit."""
    first, pin_dir, endpoint, ids_before = start_pinned_sensor(env, lab, tmp_path, sensors)
    link = pin_dir + "-link"
    os.symlink(pin_dir, link)
    try:
        config = lab_config(f"ipc://{tmp_path}/other.sock", pin_path=link, metrics={"listen": ""})
        code, err = HostDaemon(env, lab, tmp_path, config, "second").run_to_exit()
    finally:
        os.unlink(link)
    assert code == 1, err
    assert f"another sniffer (pid {first.proc.pid}) holds {link}" in err, err
    assert "stale" not in err, err
    assert pinned_map_ids(pin_dir) == ids_before, "the running sensor's pins changed"
    assert first.proc.poll() is None, "the running sensor exited"


def test_a_dangling_symlink_pin_path_is_the_lock_of_the_directory_it_names(env, lab, tmp_path, sensors):
    """A sensor started on a link to a pin directory not made yet took the link's own lock; once the
    directory was made (by ExecStartPre, an operator) before its pins, they went there, and a second
    sensor on the directory itself took another lock and replaced them all as stale."""
    ensure_bpffs()
    pin_dir = new_pin_dir(lab)
    link = pin_dir + "-link"
    os.symlink(pin_dir, link)  # dangling
    try:
        first = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/pub.sock", pin_path=link,
                                                          metrics={"listen": ""}), "first")
        notify = NotifySocket()
        with open(first.out_path, "wb") as out, open(first.err_path, "wb") as err:
            first.proc = subprocess.Popen(first.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                          env=notify.env())
        sensors.append(first)
        deadline = time.monotonic() + 10
        while not any(os.path.exists(lock_file(p)) for p in (link, pin_dir)) and time.monotonic() < deadline:
            time.sleep(0.002)
        os.mkdir(pin_dir)  # its lock is taken, its programs load: the pins are not there yet
        wait_ready(first.proc, notify, first.stderr)
        ids_before = pinned_map_ids(pin_dir)
        assert ids_before, first.stderr()
        assert_second_refused(env, lab, tmp_path, first, pin_dir, f"ipc://{tmp_path}/other.sock", pin_dir, ids_before)
    finally:
        os.unlink(link)
        first.stop()
        if os.path.isdir(pin_dir):
            for name in os.listdir(pin_dir):
                os.unlink(os.path.join(pin_dir, name))
            os.rmdir(pin_dir)


def sniffer_tc_prog_ids(lab, dev):
    out = run(["ip", "netns", "exec", lab.gw, "tc", "-j", "filter", "show", "dev", dev, "egress"]).stdout
    return [f["options"]["prog"]["id"] for f in json.loads(out or "[]") if "sniffer" in json.dumps(f)]


def test_a_second_start_on_the_clsact_path_leaves_the_first_sensors_filter(env, lab, tmp_path, sensors):
    """Red team R13-9: on the clsact path (tc_attach "clsact", what "auto" picks before Linux 6.6)
    a second sensor on the same interface replaced the first's tc filter, and its failed start
    deleted it (the first blind until its check); two tc-only sensors replaced each other's
    filter every second. Now the second start does not replace a live sensor's filter: it fails,
    naming the program and the process that hold the handle, and the first is untouched."""
    ensure_bpffs()
    clsact = {"tc_attach": "clsact", "payload_bytes": 0}
    first = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/first.sock", pin_path=new_pin_dir(lab),
                                                      metrics={"listen": ""}, capture=clsact), "first").start()
    sensors.append(first)
    ours = sniffer_tc_prog_ids(lab, "wan0")
    assert len(ours) == 1, ours
    for hooks in (["xdp", "tc_egress"], ["tc_egress"]):
        interfaces = [{"name": "wan0", "role": "wan", "mode": "host-based", "hooks": hooks}]
        code, err = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/second.sock",
                                                              pin_path=new_pin_dir(lab), metrics={"listen": ""},
                                                              capture=clsact, interfaces=interfaces),
                               "second").run_to_exit()
        assert code == 1, err
        assert sniffer_tc_prog_ids(lab, "wan0") == ours, "the second start changed the first's filter"
        time.sleep(1.5)  # the first sensor's check runs every second
        assert "removed or replaced by someone else" not in first.stderr(), first.stderr()
        assert (f'is taken by BPF program id {ours[0]} "sniffer_tc_eg", held by pid {first.proc.pid} (sniffer)'
                in err), err
    assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the running sensor stopped publishing")


def test_a_filter_a_killed_sensor_left_on_the_clsact_path_is_taken_over(env, lab, tmp_path, sensors):
    """The filter of a SIGKILLed sensor stays (tc filters are not tied to an fd): the next start
    takes it over, as its program is ours and no process holds it, and removes it at its stop."""
    ensure_bpffs()
    config = lab_config(f"ipc://{tmp_path}/killed.sock", pin_path=new_pin_dir(lab), metrics={"listen": ""},
                        capture={"tc_attach": "clsact"})
    killed = HostDaemon(env, lab, tmp_path, config, "killed").start()
    killed.proc.kill()
    killed.proc.wait()
    left = sniffer_tc_prog_ids(lab, "wan0")
    assert len(left) == 1, left
    for name in os.listdir(config["pin_path"]):  # the killed run's pins and lock file: not this test's subject
        os.unlink(os.path.join(config["pin_path"], name))
    os.rmdir(config["pin_path"])
    if os.path.exists(lock_file(config["pin_path"])):
        os.unlink(lock_file(config["pin_path"]))
    config["pin_path"] = new_pin_dir(lab)
    config["publish"]["endpoint"] = f"ipc://{tmp_path}/next.sock"
    nxt = HostDaemon(env, lab, tmp_path, config, "next").start()
    sensors.append(nxt)
    assert f'taking over the tc egress filter a stopped sniffer left (BPF program id {left[0]} "sniffer_tc_eg", ' \
           'held by no process visible here)' in nxt.stderr(), nxt.stderr()
    assert len(sniffer_tc_prog_ids(lab, "wan0")) == 1 and sniffer_tc_prog_ids(lab, "wan0") != left
    assert nxt.stop() == 0
    assert sniffer_tc_prog_ids(lab, "wan0") == [], "the sensor left its filter"


# A local user's process that opens a lock file read-only (flock needs no more) and waits for its
# lock, as red team R17-5's did; it says whether it could open the file.
LOCK_SQUATTER = r"""
import fcntl, signal, sys
try:
    f = open(sys.argv[1], "rb")
except OSError as e:
    print("cannot open:", e.strerror, flush=True)
    signal.pause()
print("waiting for its lock", flush=True)
fcntl.flock(f, fcntl.LOCK_EX)
print("holding its lock", flush=True)
signal.pause()
"""


def test_a_local_user_cannot_keep_the_lock_after_the_sensor_is_killed(env, lab, tmp_path, sensors):
    """Red team R17-5: the lock file was 0644, and flock needs only a read-only descriptor: uid 65534
    waited on the running sensor's lock, got it when the sensor was SIGKILLed (the file stays), and
    every restart exited 1 naming the dead pid. The file is 0600 now: the restart runs, and the next
    start is refused by the restarted sensor, not by the waiter."""
    ensure_bpffs()
    pin_dir = new_pin_dir(lab)
    config = lab_config(f"ipc://{tmp_path}/killed.sock", pin_path=pin_dir, metrics={"listen": ""})
    killed = HostDaemon(env, lab, tmp_path, config, "killed").start()
    lock = lock_file(pin_dir)
    squatter = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                 "-c", LOCK_SQUATTER, lock], stdout=subprocess.PIPE, text=True)
    try:
        opened = squatter.stdout.readline().strip()
        killed.proc.kill()
        killed.proc.wait()
        time.sleep(0.3)  # a waiter is granted the lock at once
        assert os.path.exists(lock), "the killed sensor's lock file is gone: nothing left to squat"
        config["publish"]["endpoint"] = f"ipc://{tmp_path}/restarted.sock"
        restarted = HostDaemon(env, lab, tmp_path, config, "restarted")
        sensors.append(restarted)
        restarted.start()
        assert opened == "cannot open: Permission denied", opened
        _assert_the_lock_is_private_and_refuses_a_third(env, lab, tmp_path, config, lock, pin_dir, restarted)
    finally:
        _end_squat(squatter, sensors, lock, pin_dir)


def _assert_the_lock_is_private_and_refuses_a_third(env, lab, tmp_path, config, lock, pin_dir, holder):
    """The lock file is 0600, and a third start is refused naming `holder`, the sensor now running."""
    assert oct(os.stat(lock).st_mode & 0o777) == "0o600", oct(os.stat(lock).st_mode)
    config["publish"]["endpoint"] = f"ipc://{tmp_path}/third.sock"
    code, err = HostDaemon(env, lab, tmp_path, config, "third").run_to_exit()
    assert code == 1, err
    assert f"another sniffer (pid {holder.proc.pid}) holds {pin_dir} (lock {lock})" in err, err


def _end_squat(squatter, sensors, lock, pin_dir=None):
    """Ends a lock squatter and the sensors; removes the lock file and `pin_dir`'s pins (a killed
    run's, where no restart replaced them)."""
    squatter.kill()
    squatter.wait()
    squatter.stdout.close()
    for daemon in sensors:
        daemon.stop()
    if pin_dir and os.path.isdir(pin_dir):
        for name in os.listdir(pin_dir):
            os.unlink(os.path.join(pin_dir, name))
        os.rmdir(pin_dir)
    if os.path.exists(lock):
        os.unlink(lock)


def earlier_versions_lock_file(lab):
    """A new pin path and its lock file as an earlier version's SIGKILLed sensor left it: mode 0644,
    naming a dead pid. Returns (pin path, lock file)."""
    ensure_bpffs()
    pin_dir = new_pin_dir(lab)
    lock = lock_file(pin_dir)
    os.makedirs(LOCK_DIR, exist_ok=True)
    with open(lock, "w") as f:
        f.write("999999\n")
    os.chmod(lock, 0o644)
    return pin_dir, lock


def test_an_earlier_versions_lock_file_a_local_user_holds_is_replaced_with_a_warning(env, lab, tmp_path, sensors):
    """What an earlier version's SIGKILLed sensor left, a 0644 lock file, held by uid 65534 since:
    the start warns naming the holder and runs on a new file (0600) renamed over it; the holder's
    lock is on a file no longer linked, so the next start is refused by the new sensor."""
    pin_dir, lock = earlier_versions_lock_file(lab)
    squatter = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
                                 "-c", LOCK_SQUATTER, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout.readline().strip() == "waiting for its lock"
        assert squatter.stdout.readline().strip() == "holding its lock"
        config = lab_config(f"ipc://{tmp_path}/next.sock", pin_path=pin_dir, metrics={"listen": ""})
        started = HostDaemon(env, lab, tmp_path, config, "next")
        sensors.append(started)
        started.start()
        assert (f"lock file {lock}: its lock is held by pid {squatter.pid} (uid 65534), not a sniffer's: "
                "replaced by a new file") in started.stderr(), started.stderr()
        _assert_the_lock_is_private_and_refuses_a_third(env, lab, tmp_path, config, lock, pin_dir, started)
    finally:
        _end_squat(squatter, sensors, lock)


def test_an_earlier_versions_lock_file_a_root_process_that_is_not_a_sniffer_holds_is_replaced(env, lab, tmp_path,
                                                                                              sensors):
    """Red team R18-13: a user takes an earlier version's 0644 lock file's lock and execs a setuid-root
    program that waits (su at its password prompt): the holder is root, and was taken for a sensor, so
    every start was refused naming the file's dead pid. Here root's `flock FILE sleep 60` holds it:
    not a sniffer, so a squatter, named with what it runs; the start runs on a new file (0600)."""
    pin_dir, lock = earlier_versions_lock_file(lab)
    # -o: sleep does not inherit the lock; a session of its own: both are killed at the end.
    holder = subprocess.Popen(["flock", "-o", lock, "sleep", "60"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        while subprocess.run(["flock", "-n", "-E", "99", lock, "true"]).returncode != 99:
            assert time.monotonic() < deadline, "flock did not take the lock"
            time.sleep(0.05)
        config = lab_config(f"ipc://{tmp_path}/next.sock", pin_path=pin_dir, metrics={"listen": ""})
        started = HostDaemon(env, lab, tmp_path, config, "next")
        sensors.append(started)
        started.start()
        flock = os.path.realpath(shutil.which("flock"))
        assert (f"lock file {lock}: its lock is held by pid {holder.pid} (uid 0, running {flock}), not a sniffer's: "
                "replaced by a new file") in started.stderr(), started.stderr()
        _assert_the_lock_is_private_and_refuses_a_third(env, lab, tmp_path, config, lock, pin_dir, started)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        for daemon in sensors:
            daemon.stop()
        if os.path.exists(lock):
            os.unlink(lock)


def test_a_live_sensor_of_a_service_user_of_any_name_refuses_a_root_start(env, lab, tmp_path):
    """Red team R18-7: the service run as a user not named "sniffer" (this harness's temporary user,
    a unit's User=) holds its 0600 lock file in /run/sniffer, which it owns (RuntimeDirectory=). A
    root start with the same pin_path took it for a squatter's: it replaced the lock file and the
    live sensor's pins, ran beside it, and removed the pin directory at its exit. It is refused now,
    naming the service's pid, and the service keeps its lock and pins."""
    caps = unit_capabilities((REPO_ROOT / "config" / "sniffer.service").read_text())
    lock = f"{LOCK_DIR}/sys-fs-bpf-sniffer.lock"
    with temporary_user() as user, user_directory(user) as workdir:
        binary = workdir / "sniffer"  # a copy the user can run wherever the checkout is
        shutil.copy2(env.sniffer, binary)
        service_config = workdir / "service.json"
        service_config.write_text(json.dumps(beside_config(f"ipc://{workdir}/service.sock", "wan0")))
        notify = NotifySocket()
        os.chmod(notify.path, 0o666)  # the user sends READY=1 to it
        err_path = tmp_path / "service.stderr"
        with open(err_path, "wb") as err:
            proc = lab.popen(lab.gw, service_beside_root_command(user, caps, [binary, "--config", service_config]),
                             stdout=subprocess.PIPE, stderr=err, text=True, env=notify.env())
        service_pid = int(proc.stdout.readline().split()[1])
        try:
            wait_ready(proc, notify, lambda: err_path.read_text(errors="replace"))
            host = f"/proc/{proc.pid}/root"  # the namespace the root start runs in
            held = os.stat(host + lock)
            assert (held.st_uid, oct(held.st_mode & 0o777)) == (user_ids(user)[0], "0o600")
            pins = pin_inodes(host + service_user.PIN_DIR)
            assert pins, "the service pinned nothing"
            code, err = start_beside(proc.pid, env, tmp_path, beside_config(f"ipc://{tmp_path}/root.sock", "lan0"))
            assert code == 1, err
            assert f"another sniffer (pid {service_pid}) holds /sys/fs/bpf/sniffer (lock {lock})" in err, err
            assert proc.poll() is None, "the service stopped"
            assert os.stat(host + lock).st_ino == held.st_ino, "the service's lock file was replaced"
            assert pin_inodes(host + service_user.PIN_DIR) == pins, "the service's pins were replaced"
        finally:
            os.kill(service_pid, signal.SIGTERM)
            proc.communicate(timeout=10)
        log = err_path.read_text(errors="replace")
        assert proc.returncode == 0, log
        assert not re.search(r"^\S+ (warning|error|critical) ", log, re.M), log  # its pins were its own to the end


def beside_config(endpoint, interface):
    """The lab config on `interface` alone (two sensors on separate interfaces could both run), pinned
    where the service pins (its namespace's own bpffs)."""
    config = lab_config(endpoint, pin_path=service_user.PIN_DIR, metrics={"listen": ""})
    config["interfaces"] = [i for i in config["interfaces"] if i["name"] == interface]
    return config


def pin_inodes(pin_dir):
    return {name: os.stat(os.path.join(pin_dir, name)).st_ino for name in sorted(os.listdir(pin_dir))}


def start_beside(target_pid, env, tmp_path, config):
    """Starts the daemon as root in the mount and network namespaces of `target_pid` with `config`:
    (exit code, stderr). One still running after 15 s (it took the lock) is stopped, and fails the test."""
    config_path = tmp_path / "root.json"
    config_path.write_text(json.dumps(config))
    root = subprocess.Popen(["nsenter", f"--target={target_pid}", "--mount", "--net", str(env.sniffer),
                             "--config", str(config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        _, err = root.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        root.terminate()
        _, err = root.communicate(timeout=10)
        pytest.fail(f"the root start ran beside the service:\n{err}", pytrace=False)
    return root.returncode, err
