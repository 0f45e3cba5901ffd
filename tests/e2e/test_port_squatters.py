"""A local user who takes the sensor's TCP ports first (any user may bind a port above 1023) must
not keep it off the wire. A squatter on the metrics port or on a tcp publish endpoint made every
start and restart exit 1, while the squatter answered the scraper itself (red team, round 16). Now
the sensor starts without what it cannot bind, names the holder, and binds once the port is free."""
import subprocess
import time

from e2e_support import Addr, Daemon, lab_config, random_ports, scrape

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
                f"use (errno 98), held by uid 65534; the sensor runs without its metrics endpoint") in err, err
        assert (f'publish.endpoint "{endpoint}": cannot bind: Address already in use, held by uid 65534; the sensor '
                "runs without it") in err, err
        assert f"publishing on {endpoint} once it can be bound (see above)" in err, err
        for squatter in squatters:
            squatter.kill()
            squatter.wait()
        wait_for(daemon, "metrics: serving on", 8)
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
        assert f'publish.endpoint "{endpoint}": cannot bind: Address already in use, held by uid 65534; the sensor ' \
            "runs without it" in daemon.stderr(), daemon.stderr()
        squatter.kill()
        squatter.wait()
        wait_for(daemon, f"publish.endpoint: bound {endpoint} now", 8)
        daemon.stop()
    finally:
        squatter.kill()
        squatter.wait()
        daemon.terminate()
