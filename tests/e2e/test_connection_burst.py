"""A burst of raw connections within one main-loop turn, larger than the descriptor limit's
headroom (round 14). test_connection_flood.py sends 500 a second, which the loop's crowd cut
keeps up with; here 1,000 come at once, as fast as connect() goes, under a limit of 400: before the
loop could cut, libzmq's ipc listener met EMFILE at accept() and aborted the daemon (its
errno_assert has no EMFILE). Now an accept that would leave fewer than 64 descriptors free is
refused at once (accept_guard.hpp), and the crowd cut follows at the loop's next turn."""
import socket
import time

from e2e_support import Addr, Daemon, run, warm_up
from test_blocklist import control_socket

LIMIT = 400
BURST = 1000


def burst(path, count):
    """`count` raw connections to the ipc socket at `path`, as fast as they go (never a greeting):
    while the listen backlog is full, the next connect is tried again at once."""
    held = []
    deadline = time.monotonic() + 5
    while len(held) < count and time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            held.append(s)
        except OSError:  # EAGAIN: the backlog is full
            s.close()
    return held


def test_a_connection_burst_beyond_the_headroom_leaves_the_sensor_up(env, lab, start_daemon, subscribe, tmp_path,
                                                                      monkeypatch):
    plain = Daemon.command
    monkeypatch.setattr(Daemon, "command", lambda self: ["prlimit", f"--nofile={LIMIT}:{LIMIT}", "--", *plain(self)])
    control, sensor_pub, key = control_socket(env, tmp_path, "detector")
    daemon = start_daemon(control=control, metrics={"listen": ""}, blocklist={"roles": ["wan"]})
    good = subscribe(daemon.endpoint)
    warm_up(lab, good.count)
    held = []
    for endpoint in (daemon.endpoint, control["endpoint"], daemon.endpoint):
        held += burst(endpoint[len("ipc://"):], BURST)
        time.sleep(0.3)
        assert daemon.running(), daemon.stderr()[-3000:]
    time.sleep(1.5)  # the loop's crowd cuts
    assert daemon.running(), daemon.stderr()[-3000:]
    before = good.count()
    lab.ping(lab.wan, Addr.WAN4_GW, count=3)
    time.sleep(0.5)
    for s in held:
        s.close()
    assert daemon.running(), daemon.stderr()[-3000:]
    assert good.count() - before >= 3, "the subscriber got nothing after the burst"
    listed = run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub, "--key-file",
                  key, "--timeout-ms", "3000", "list"], check=False)
    assert listed.returncode == 0, listed.stderr
    assert "connections refused at once: descriptor" in daemon.stderr(), daemon.stderr()[-3000:]
    report = daemon.stop()
    assert report["userspace"]["connections_refused"] >= 1, report["userspace"]
    assert report["userspace"]["publish_connection_cuts"] >= 1
