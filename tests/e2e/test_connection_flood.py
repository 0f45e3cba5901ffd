"""Red team R12-8: raw connections to the publish socket (each a descriptor in the daemon before any
ZeroMQ handshake) took the daemon to its descriptor limit; then libzmq's ipc listener asserted on
the next connection (EMFILE) and the daemon aborted. The publish and control sockets now hold at
most a share of the limit and cut the peer with the most connections above it.

The daemon runs under a low limit (prlimit 400: a cap of 36 publish connections) so that a few
hundred connections stand for the tens of thousands the unit's LimitNOFILE=65536 would take. The
cut comes at the daemon's next loop turn: a burst of more connections than the limit's headroom
within one turn (here ~300; under the unit ~64,000) still reaches the limit."""
import os
import socket
import subprocess
import time

from e2e_support import Addr, Daemon, run, wait_log, warm_up
from test_blocklist import control_socket


def test_a_connection_flood_is_cut_and_the_sensor_stays_up(env, lab, start_daemon, subscribe, tmp_path,
                                                           monkeypatch):
    plain = Daemon.command
    monkeypatch.setattr(Daemon, "command", lambda self: ["prlimit", "--nofile=400:400", "--", *plain(self)])
    control, sensor_pub, key = control_socket(env, tmp_path, "detector")
    daemon = start_daemon(control=control, metrics={"listen": ""}, blocklist={"roles": ["wan"]})
    good = subscribe(daemon.endpoint)
    warm_up(lab, good.count)
    path = daemon.endpoint[len("ipc://"):]
    flood = []
    for _ in range(600):  # raw connections that never send a greeting, 500 a second
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            s.close()
            continue
        flood.append(s)
        time.sleep(0.002)
    assert wait_log(daemon, "publish: more than 36 connections at once"), daemon.stderr()[-3000:]
    fds = len(os.listdir(f"/proc/{daemon.proc.pid}/fd"))
    before = good.count()
    lab.ping(lab.wan, Addr.WAN4_GW, count=5)
    time.sleep(0.5)
    listed = run([env.sniffer, "block", "--endpoint", control["endpoint"], "--server-key", sensor_pub, "--key-file",
                  key, "--timeout-ms", "3000", "list"], check=False)
    for s in flood:
        s.close()
    assert daemon.running(), daemon.stderr()[-3000:]
    print(f"daemon descriptors during the flood: {fds}; good subscriber: {good.count() - before} events")
    assert fds < 300, f"{fds} descriptors open under a limit of 400"
    assert good.count() - before >= 5, "the good subscriber got nothing during the flood"
    assert listed.returncode == 0, listed.stderr
    report = daemon.stop()
    assert report["userspace"]["publish_connection_cuts"] >= 1
