"""The clsact path (tc_attach "clsact", what "auto" picks before Linux 6.6) across pid namespaces.

A filter at our handle whose program has our name and that no process holds is a killed sniffer's
leftover, taken over by the next start. "No process" was read from /proc: a sensor in a container
(`unshare -p -f --mount-proc`) sees only its own processes there, and took the filter of a live
sensor outside (red team, round 14). Now every sensor holding a clsact filter also holds a lock in
the interface's network namespace (an abstract unix socket: shared whatever the pid or mount
namespace, freed by the kernel when its holder dies), and a filter is taken over only when that
lock can be taken."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from e2e_support import lab_config
from test_single_instance import (HostDaemon, assert_receives, ensure_bpffs, lock_file, new_pin_dir,
                                  sensors, sniffer_tc_prog_ids)  # noqa: F401 (sensors: a fixture)

CLSACT = {"tc_attach": "clsact", "payload_bytes": 0}
TC_ONLY = [{"name": "wan0", "role": "wan", "mode": "host-based", "hooks": ["tc_egress"]}]


class ContainerDaemon(HostDaemon):
    """The daemon in a pid namespace of its own, with its own /proc (a container's view). unshare
    passes no signal on: stop() signals the daemon (its pid 1 there) itself."""

    def __init__(self, *args):
        super().__init__(*args)
        self.cmd = ["unshare", "--pid", "--fork", "--mount-proc", *self.cmd]

    def daemon_pid(self):
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as children:
            return int(children.read().split()[0])


def tc_sensor(env, lab, tmp_path, name, container=None, pins=None):
    """A sensor on wan0's tc egress hook alone, on the clsact path (not started)."""
    config = lab_config(f"ipc://{tmp_path}/{name}.sock", pin_path=pins or new_pin_dir(lab), metrics={"listen": ""},
                        capture=CLSACT, interfaces=TC_ONLY)
    return (container or HostDaemon)(env, lab, tmp_path, config, name)


def remove_pins(pin_dir):
    for name in os.listdir(pin_dir):
        os.unlink(os.path.join(pin_dir, name))
    os.rmdir(pin_dir)
    if os.path.exists(lock_file(pin_dir)):
        os.unlink(lock_file(pin_dir))


def test_a_sensor_in_another_pid_namespace_leaves_the_live_sensors_filter(env, lab, tmp_path, sensors):
    ensure_bpffs()
    first = HostDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/first.sock", pin_path=new_pin_dir(lab),
                                                      metrics={"listen": ""}, capture=CLSACT), "first").start()
    sensors.append(first)
    ours = sniffer_tc_prog_ids(lab, "wan0")
    assert len(ours) == 1, ours
    for attempt in range(3):  # each refused start learns who holds the lock (its backlog is emptied every second)
        second = ContainerDaemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/second.sock",
                                                                pin_path=new_pin_dir(lab), metrics={"listen": ""},
                                                                capture=CLSACT, interfaces=TC_ONLY), "second")
        code, err = second.run_to_exit()
        assert "taking over" not in err, err
        assert code == 1, err
        assert sniffer_tc_prog_ids(lab, "wan0") == ours, "the sensor in the container took the first's filter"
        assert "a live sniffer holds the lock of this hook (@sniffer-tc/" in err, err
        assert "/egress, a process in another pid namespace (uid 0))" in err, (attempt, err)
        time.sleep(1.5)  # the first sensor's check runs every second
        assert "removed or replaced by someone else" not in first.stderr(), first.stderr()
    assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the running sensor stopped publishing")


def test_a_sensor_in_a_container_takes_over_what_a_killed_sensor_left(env, lab, tmp_path, sensors):
    """The lock is no obstacle to the takeover it exists for: the killed sensor's lock went with it."""
    ensure_bpffs()
    killed_pins = new_pin_dir(lab)
    killed = tc_sensor(env, lab, tmp_path, "killed", pins=killed_pins).start()
    killed.proc.kill()
    killed.proc.wait()
    remove_pins(killed_pins)  # the killed run's pins and lock file: not this test's subject
    left = sniffer_tc_prog_ids(lab, "wan0")
    assert len(left) == 1, left
    nxt = tc_sensor(env, lab, tmp_path, "next", ContainerDaemon).start()
    sensors.append(nxt)
    assert "taking over the tc egress filter a stopped sniffer left" in nxt.stderr(), nxt.stderr()
    now = sniffer_tc_prog_ids(lab, "wan0")
    assert len(now) == 1 and now != left, now
    assert nxt.stop() == 0
    assert sniffer_tc_prog_ids(lab, "wan0") == [], "the sensor left its filter"


SQUATTER = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
while True:  # "wait": until the name is free (its holder died)
    try:
        s.bind(b"\\0" + sys.argv[1].encode())
        break
    except OSError:
        if sys.argv[2] != "wait":
            raise
        time.sleep(0.005)
if sys.argv[2] != "nolisten":
    s.listen(1)
print("bound", flush=True)
sys.stdin.read()
"""


def squat(lab, mode, suffix=""):
    """A process of nobody's on wan0's tc egress lock name ("listen", "nolisten", or "wait": bind as
    soon as the name is free, then listen), or on that name + `suffix`."""
    ifindex = int(lab.exec(lab.gw, ["cat", "/sys/class/net/wan0/ifindex"]).stdout)
    return ifindex, lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                       "/usr/bin/python3", "-c", SQUATTER, f"sniffer-tc/{ifindex}/egress{suffix}",
                                       mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop(process):
    process.kill()
    process.wait()


@pytest.mark.parametrize("mode", ["listen", "nolisten"])
def test_another_users_process_on_the_lock_name_does_not_keep_the_sensor_off_the_hook(env, lab, tmp_path, sensors,
                                                                                      mode):
    """Any local user may bind an abstract name: a process of nobody's holding "@sniffer-tc/IFINDEX/
    egress" before the sensor starts is not a sniffer; the sensor attaches without the lock (and
    says so) rather than stay blind on that hook. A bound name that refuses connections (no
    listen()) looked like a live sniffer: every start failed while it lived (red team, round 15)."""
    ensure_bpffs()
    ifindex, squatter = squat(lab, mode)
    try:
        assert squatter.stdout.readline() == "bound\n"
        sensor = tc_sensor(env, lab, tmp_path, mode).start()
        sensors.append(sensor)
        assert len(sniffer_tc_prog_ids(lab, "wan0")) == 1, sensor.stderr()
        held_by = "pid " if mode == "listen" else "a process of uid 65534 that does not answer, not a sniffer"
        assert f"the lock of the tc egress hook (@sniffer-tc/{ifindex}/egress) is held by {held_by}" in sensor.stderr()
        assert mode != "listen" or "(uid 65534), not a sniffer" in sensor.stderr(), sensor.stderr()
        assert sensor.stop() == 0
    finally:
        stop(squatter)


def test_a_squatter_does_not_keep_a_restart_from_its_killed_sensors_leftover(env, lab, tmp_path, sensors):
    """A squatter waiting for the name took it the moment the sensor died (a crash, the OOM killer); the
    restart then refused the killed sensor's filter ("a live sniffer holds the lock"), for good."""
    ensure_bpffs()
    killed_pins = new_pin_dir(lab)
    killed = tc_sensor(env, lab, tmp_path, "killed", pins=killed_pins).start()
    _, squatter = squat(lab, "wait")
    try:
        killed.proc.kill()
        killed.proc.wait()
        assert squatter.stdout.readline() == "bound\n"
        remove_pins(killed_pins)
        left = sniffer_tc_prog_ids(lab, "wan0")
        assert len(left) == 1, left
        restarted = tc_sensor(env, lab, tmp_path, "restarted").start()
        sensors.append(restarted)
        assert "(uid 65534), not a sniffer: attaching without it" in restarted.stderr(), restarted.stderr()
        assert "taking over the tc egress filter a stopped sniffer left" in restarted.stderr(), restarted.stderr()
        now = sniffer_tc_prog_ids(lab, "wan0")
        assert len(now) == 1 and now != left, now
    finally:
        stop(squatter)


def test_a_restart_does_not_read_another_users_descriptors(env, lab, tmp_path, sensors, request):
    """Finding who holds a leftover filter read every descriptor of every process in /proc: a local
    user holding a million of them delayed a restart after a crash by ~9 us each (red team, round
    16). Only the processes of a sniffer's user are looked at now (theirs cannot hold our program)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/install-deps.sh installs it)")
    ensure_bpffs()
    killed_pins = new_pin_dir(lab)
    killed = tc_sensor(env, lab, tmp_path, "killed", pins=killed_pins).start()
    killed.proc.kill()
    killed.proc.wait()
    remove_pins(killed_pins)
    hog = lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                             "import os, sys; held = [os.dup(1) for _ in range(100)]; print('ready', flush=True); "
                             "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert hog.stdout.readline() == "ready\n"
        hog_pid = int(lab.exec(lab.gw, ["pgrep", "-u", "65534", "-f", "held = "]).stdout.split()[0])
        restarted = tc_sensor(env, lab, tmp_path, "restarted")
        trace = tmp_path / "restart.strace"
        restarted.cmd = ["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), *restarted.cmd]
        restarted.start()
        sensors.append(restarted)
        assert "taking over the tc egress filter a stopped sniffer left" in restarted.stderr(), restarted.stderr()
        opened = trace.read_text()
        assert '"/proc/1/fd"' in opened or "/fd\"" in opened, "the scan was not traced"
        assert f'"/proc/{hog_pid}/fd"' not in opened, f"read the descriptors of uid 65534's pid {hog_pid}"
    finally:
        stop(hog)


def test_a_sensor_that_attached_beside_a_squatter_takes_the_lock_when_it_goes(env, lab, tmp_path, sensors):
    """A sensor that attached without the lock kept going without it: once the squatter left, a sensor in
    a container took its live filter as a dead one's, and it stayed blind (red team, round 15)."""
    ensure_bpffs()
    _, squatter = squat(lab, "listen")
    assert squatter.stdout.readline() == "bound\n"
    try:
        first = tc_sensor(env, lab, tmp_path, "first").start()
        sensors.append(first)
    finally:
        stop(squatter)
    ours = sniffer_tc_prog_ids(lab, "wan0")
    wait_for = time.monotonic() + 3
    while "took the lock of the tc egress hook" not in first.stderr():
        assert time.monotonic() < wait_for, first.stderr()
        time.sleep(0.1)
    second = tc_sensor(env, lab, tmp_path, "second", ContainerDaemon)
    code, err = second.run_to_exit()
    assert code == 1 and "taking over" not in err, err
    assert "a live sniffer holds the lock of this hook" in err, err
    assert sniffer_tc_prog_ids(lab, "wan0") == ours, "the sensor in the container took the first's filter"
    assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the first sensor stopped publishing")


def test_a_squatter_that_stays_does_not_let_a_container_take_the_live_sensors_filter(env, lab, tmp_path, sensors):
    """While a squatter held the lock for good, a sensor started in a container saw the first sensor's
    live filter as a killed sniffer's (no process holding it in its /proc, the lock no sniffer's) and
    took it over: the first stayed blind (round 15's residual). The first now marks the hook with a
    name of its own, which sock_diag shows with its owner's uid; a squatter's marks (another user's)
    count for nothing."""
    ensure_bpffs()
    _, squatter = squat(lab, "listen")
    _, fake_mark = squat(lab, "listen", "/0000000000000000")
    try:
        assert squatter.stdout.readline() == "bound\n" and fake_mark.stdout.readline() == "bound\n"
        first = tc_sensor(env, lab, tmp_path, "first").start()
        sensors.append(first)
        assert "not a sniffer: attaching without it" in first.stderr(), first.stderr()
        ours = sniffer_tc_prog_ids(lab, "wan0")
        assert len(ours) == 1, first.stderr()
        for container in (ContainerDaemon, None):
            second = tc_sensor(env, lab, tmp_path, "second", container)
            code, err = second.run_to_exit()
            assert code == 1 and "taking over" not in err, err
            assert "a live sniffer that attached beside a squatter of the lock marks this hook (uid 0 (@sniffer-tc/" \
                in err, err
            assert sniffer_tc_prog_ids(lab, "wan0") == ours, "the second sensor took the first's filter"
        time.sleep(1.5)  # the first sensor's check runs every second
        assert "removed or replaced by someone else" not in first.stderr(), first.stderr()
        assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the first sensor stopped publishing")
    finally:
        stop(squatter)
        stop(fake_mark)


FLOODER = """
import errno, socket, sys, time
name = b"\\0" + sys.argv[1].encode()
held, full = [], False
while True:  # keeps the lock's backlog full: the sensor empties it once a second
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(name)
        held.append(s)
    except OSError as e:
        s.close()
        if e.errno == errno.EAGAIN and not full:
            full = True
            print("full", flush=True)
        time.sleep(0.002)
    if len(held) > 400:
        held.pop(0).close()
"""


def test_a_flood_on_a_live_sensors_lock_does_not_let_a_container_take_its_filter(env, lab, tmp_path, sensors):
    """A local user who kept the lock's backlog full made the live sensor "a process that does not
    answer", a squatter: a sensor in a container then took its filter as a killed one's (red team,
    round 16). The lock's owner is now read through sock_diag, without a connection."""
    ensure_bpffs()
    first = tc_sensor(env, lab, tmp_path, "first").start()
    sensors.append(first)
    ours = sniffer_tc_prog_ids(lab, "wan0")
    ifindex = int(lab.exec(lab.gw, ["cat", "/sys/class/net/wan0/ifindex"]).stdout)
    flooder = lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                                 "-c", FLOODER, f"sniffer-tc/{ifindex}/egress"], stdout=subprocess.PIPE, text=True)
    try:
        assert flooder.stdout.readline() == "full\n"
        code, err = tc_sensor(env, lab, tmp_path, "second", ContainerDaemon).run_to_exit()
        assert code == 1 and "taking over" not in err, err
        assert "a live sniffer holds the lock of this hook (@sniffer-tc/" in err, err
        assert sniffer_tc_prog_ids(lab, "wan0") == ours, "the sensor in the container took the first's filter"
    finally:
        stop(flooder)
    assert_receives(env, lab, f"ipc://{tmp_path}/first.sock", "the first sensor stopped publishing")


UNIT_CAPS = "+bpf,+net_admin,+perfmon,+dac_read_search"  # config/sniffer.service's AmbientCapabilities


def test_the_packaged_units_user_takes_over_its_own_leftover_after_a_crash(env, lab):
    """Run as the packaged unit runs it (a user of its own with the unit's ambient capabilities, no
    CAP_SYS_ADMIN), a sensor killed on the clsact path (SIGKILL, the OOM killer) leaves its filter;
    the restart could not open the program by id to read its name, so it refused the leftover
    ('"", held by no process') and the unit could never come back. The name is now read from the
    filter itself (TCA_BPF_NAME), and the restart takes its leftover over."""
    work = tempfile.mkdtemp(prefix="sniffer-unit-user-")
    os.chmod(work, 0o1777)  # the unit's user writes its socket here; sticky: nobody replaces the config
    config = os.path.join(work, "sniffer.json")
    with open(config, "w") as f:
        json.dump({**lab_config(f"ipc://{work}/pub.sock", metrics={"listen": ""}, capture=CLSACT,
                                interfaces=TC_ONLY), "pin_path": ""}, f)
    os.chmod(config, 0o644)
    cmd = ["nsenter", f"--net=/run/netns/{lab.gw}", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
           f"--inh-caps={UNIT_CAPS}", f"--ambient-caps={UNIT_CAPS}", str(env.sniffer), "--config", config]

    def start(name):
        err = open(os.path.join(work, f"{name}.stderr"), "w+")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while "publishing on" not in open(err.name).read():
            assert proc.poll() is None, open(err.name).read()
            assert time.monotonic() < deadline, open(err.name).read()
            time.sleep(0.1)
        return proc, err.name

    crashed = restarted = None
    try:
        crashed, _ = start("crashed")
        left = sniffer_tc_prog_ids(lab, "wan0")
        assert len(left) == 1, left
        crashed.kill()
        crashed.wait()
        restarted, log = start("restarted")
        text = open(log).read()
        assert "taking over the tc egress filter a stopped sniffer left" in text and '"sniffer_tc_eg"' in text, text
        now = sniffer_tc_prog_ids(lab, "wan0")
        assert len(now) == 1 and now != left, now
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(10) == 0, open(log).read()
        assert sniffer_tc_prog_ids(lab, "wan0") == [], "the sensor left its filter"
    finally:
        for proc in (crashed, restarted):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)
