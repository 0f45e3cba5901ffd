"""A local user who takes the sensor's TCP ports first (any user may bind a port above 1023) must
not keep it off the wire. A squatter on the metrics port or on a tcp publish endpoint made every
start and restart exit 1, while the squatter answered the scraper itself (red team, round 16). Now
the sensor starts without what it cannot bind, names the holder, and binds once the port is free."""
import json
import subprocess
import time

from e2e_support import Addr, Daemon, lab_config, random_ports, scrape, scrape_until

SQUATTER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("bound", flush=True)
sys.stdin.read()
"""


def squat(lab, port):
    """A process of nobody's listening on 127.0.0.1:port in the sensor's namespace."""
    proc = lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                              SQUATTER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "bound\n"
    return proc


def wait_for(daemon, text, timeout):
    deadline = time.monotonic() + timeout
    while text not in daemon.stderr():
        assert daemon.running() and time.monotonic() < deadline, daemon.stderr()
        time.sleep(0.2)


def test_a_squatter_on_the_metrics_and_publish_ports_does_not_keep_the_sensor_off_the_wire(env, lab, tmp_path):
    metrics_port, publish_port = random_ports(2)
    squatters = [squat(lab, metrics_port), squat(lab, publish_port)]
    endpoint = f"tcp://127.0.0.1:{publish_port}"
    daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, metrics={"listen": f"127.0.0.1:{metrics_port}"}))
    try:
        daemon.start()  # the base exited 1 here
        err = daemon.stderr()
        assert (f'metrics.listen "127.0.0.1:{metrics_port}": cannot bind 127.0.0.1:{metrics_port}: Address already in '
                f"use (errno 98), held by uid 65534 (pid {squatters[0].pid}, python3); the sensor runs without its "
                "metrics endpoint") in err, err
        assert (f'publish.endpoint "{endpoint}": cannot bind: Address already in use, held by uid 65534 (pid '
                f"{squatters[1].pid}, python3); the sensor runs without it") in err, err
        assert (f"publishing on {endpoint} once it can be bound (see above)" in err and
                f"metrics on http://127.0.0.1:{metrics_port}/metrics once it can be bound (see above)" in err), err
        for squatter in squatters:
            squatter.kill()
            squatter.wait()
        wait_for(daemon, f"metrics.listen: bound http://127.0.0.1:{metrics_port}/metrics now", 8)
        wait_for(daemon, f"publish.endpoint: bound {endpoint} now", 8)
        _, samples = scrape(lab, metrics_port)
        assert any(name.startswith("sniffer_records_total") for name in samples), samples
        sub = lab.popen(lab.gw, [env.sniffer_sub, "--connect", endpoint, "--count", "1", "--timeout", "10"],
                        stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while sub.poll() is None and time.monotonic() < deadline:
            lab.ping(lab.wan, Addr.WAN4_GW, count=1)
        out, _ = sub.communicate(timeout=15)
        assert sub.returncode == 0 and '"src_addr":"198.51.100.10"' in out, out
        assert daemon.stop()["userspace"]["events_published"] > 0
    finally:
        for squatter in squatters:
            squatter.kill()
            squatter.wait()
        daemon.terminate()


ABSTRACT_SQUATTER = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\\0" + sys.argv[1].encode())
s.listen(8)
print("bound", flush=True)
sys.stdin.read()
"""


def test_a_squatter_on_an_abstract_ipc_publish_endpoint_is_waited_for(env, lab, tmp_path):
    """ipc://@NAME is an abstract name: any local user may bind it first, as a port."""
    name = f"sniffer-e2e-{random_ports(1)[0]}"
    squatter = lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                                  "-c", ABSTRACT_SQUATTER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert squatter.stdout.readline() == "bound\n"
    endpoint = f"ipc://@{name}"
    daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, metrics={"listen": ""}))
    try:
        daemon.start()
        assert f'publish.endpoint "{endpoint}": cannot bind: Address already in use, held by uid 65534 (pid ' \
            f"{squatter.pid}, python3); the sensor runs without it" in daemon.stderr(), daemon.stderr()
        squatter.kill()
        squatter.wait()
        wait_for(daemon, f"publish.endpoint: bound {endpoint} now", 8)
        daemon.stop()
    finally:
        squatter.kill()
        squatter.wait()
        daemon.terminate()


# Root, listening once told to (a line on stdin): told right after the squatter is gone, it takes the
# port before the sensor's next try (every 5 s), as a second sensor or another root service would.
ROOT_LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sys.stdin.readline()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("bound", flush=True)
sys.stdin.read()
"""


def root_ready(lab, port):
    return lab.popen(lab.gw, ["/usr/bin/python3", "-c", ROOT_LISTENER, str(port)], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)


def root_takes_over(squatter, root):
    """The squatter goes; root takes its port at once."""
    squatter.kill()
    squatter.wait()
    root.stdin.write("go\n")
    root.stdin.flush()
    assert root.stdout.readline() == "bound\n"


def clash_line(key, endpoint, refused, root):
    """The line that says root now holds it (`refused`: the failure, without its holder)."""
    return (f'{key} "{endpoint}": still not bound, now {refused}, held by uid 0 (pid {root.pid}, python3): a start '
            "would refuse this")


def stats_report(env, lab, endpoint):
    """The last report of the stats topic (metrics.stats_interval_s 1) within 4 s."""
    out = lab.exec(lab.gw, [env.sniffer_sub, "--connect", endpoint, "--topic", "stats", "--timeout", "4"],
                   check=False).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"stats"')]
    assert lines, out
    return lines[-1]["stats"]["report"]


def test_a_publish_endpoint_root_takes_after_a_squatter_is_said_once_shown_and_bound_when_free(env, lab, tmp_path):
    """R17-2: the squatter left and root (a second sensor with the same endpoint) took the port. The
    base kept trying without a word, its last line blaming the squatter."""
    metrics_port, publish_port = random_ports(2)
    squatter, root = squat(lab, publish_port), root_ready(lab, publish_port)
    endpoint = f"tcp://127.0.0.1:{publish_port}"
    daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, metrics={"listen": f"127.0.0.1:{metrics_port}"}))
    try:
        daemon.start()
        root_takes_over(squatter, root)
        said = clash_line("publish.endpoint", endpoint, "cannot bind: Address already in use", root)
        wait_for(daemon, said, 8)
        time.sleep(11)  # two more tries, that find the same holder: not said again
        assert daemon.running() and daemon.stderr().count(f'publish.endpoint "{endpoint}": still not bound') == 1, \
            daemon.stderr()
        _, samples = scrape(lab, metrics_port)
        assert samples['sniffer_endpoint_unbound{endpoint="publish.endpoint"}'] == 1, samples
        assert samples['sniffer_endpoint_unbound{endpoint="metrics.listen"}'] == 0, samples
        lab.ping(lab.wan, Addr.WAN4_GW, count=2)  # still capturing
        root.kill()
        root.wait()
        wait_for(daemon, f"publish.endpoint: bound {endpoint} now (before: cannot bind: Address already in use, "
                 "held by uid 0", 8)
        samples = scrape_until(lab, metrics_port,
                               lambda s: s.get('sniffer_endpoint_unbound{endpoint="publish.endpoint"}') == 0)
        assert samples['sniffer_endpoint_unbound{endpoint="publish.endpoint"}'] == 0, samples
        report = daemon.stop()
        assert report["userspace"]["endpoints"] == {"metrics.listen": {"bound": True},
                                                    "publish.endpoint": {"bound": True}}, report["userspace"]
        assert report["userspace"]["records_received"] > 0
    finally:
        for proc in (squatter, root):
            proc.kill()
            proc.wait()
        daemon.terminate()


def test_a_metrics_port_root_takes_after_a_squatter_does_not_end_the_run(env, lab, tmp_path):
    """R17-3: the base's retry threw, and the running sensor exited 1 without its final report."""
    metrics_port, publish_port = random_ports(2)
    squatter, root = squat(lab, metrics_port), root_ready(lab, metrics_port)
    endpoint = f"tcp://127.0.0.1:{publish_port}"
    listen = f"127.0.0.1:{metrics_port}"
    daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, metrics={"listen": listen, "stats_interval_s": 1}))
    try:
        daemon.start()
        root_takes_over(squatter, root)
        said = clash_line("metrics.listen", listen, f"cannot bind {listen}: Address already in use (errno 98)", root)
        wait_for(daemon, said, 8)
        time.sleep(11)
        assert daemon.running() and daemon.stderr().count(f'metrics.listen "{listen}": still not bound') == 1, \
            daemon.stderr()
        endpoints = stats_report(env, lab, endpoint)["userspace"]["endpoints"]
        assert endpoints["metrics.listen"]["bound"] is False, endpoints
        assert f"held by uid 0 (pid {root.pid}, python3)" in endpoints["metrics.listen"]["refused"], endpoints
        root.kill()
        root.wait()
        wait_for(daemon, f"metrics.listen: bound http://{listen}/metrics now (before: cannot bind", 8)
        _, samples = scrape(lab, metrics_port)  # its first text already says it is bound
        assert samples['sniffer_endpoint_unbound{endpoint="metrics.listen"}'] == 0, samples
        report = daemon.stop()  # exit 0 and the final report
        assert report["userspace"]["endpoints"]["metrics.listen"] == {"bound": True}, report["userspace"]
        assert f"metrics on http://{listen}/metrics once it can be bound (see above)" in daemon.stderr()
    finally:
        for proc in (squatter, root):
            proc.kill()
            proc.wait()
        daemon.terminate()


# A squatter whose process name (any bytes but NUL, 15 at most) clears the screen and turns the terminal
# green, renamed every half second: to the base each retry was a new reason, a line every 5 s forever.
RENAMING_SQUATTER = """
import ctypes, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
libc = ctypes.CDLL(None)
for i in range(1000000):
    libc.prctl(15, ctypes.c_char_p(b"\\x1b[2J\\x1b[1;32m%03d" % (i % 1000)), 0, 0, 0)  # PR_SET_NAME
    if i == 0:
        print("bound", flush=True)
    time.sleep(0.5)
"""


def renaming_squatter(lab, port):
    proc = lab.popen(lab.gw, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                              RENAMING_SQUATTER, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "bound\n"
    return proc


def test_a_squatter_that_renames_itself_is_named_once_and_its_name_escaped(env, lab, tmp_path):
    """R18-6: a new reason is a new errno or holder uid, not a new pid or process name; the name, the
    squatter's choice, goes to the log escaped, not as terminal escapes."""
    metrics_port, publish_port = random_ports(2)
    squatters = [renaming_squatter(lab, metrics_port), renaming_squatter(lab, publish_port)]
    endpoint, listen = f"tcp://127.0.0.1:{publish_port}", f"127.0.0.1:{metrics_port}"
    daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, metrics={"listen": listen}))
    try:
        daemon.start()
        time.sleep(17)  # three tries of each, each finding the squatter under another name
        err = daemon.stderr()
        assert daemon.running(), err
        for key, where in (("metrics.listen", listen), ("publish.endpoint", endpoint)):
            said = [line for line in err.splitlines() if line.count(f'{key} "{where}"') and "held by uid 65534" in line]
            assert len(said) == 1, err  # the start's line only
            assert "\\x1b[2J\\x1b[1;32m" in said[0], said[0]
        assert "\x1b" not in err, err
        daemon.stop()
    finally:
        for squatter in squatters:
            squatter.kill()
            squatter.wait()
        daemon.terminate()
