"""Helpers of the e2e tier (see conftest.py for the fixtures built on them)."""
import contextlib
import ipaddress
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
TOPOLOGY_SCRIPT = REPO_ROOT / "scripts" / "lab-topology.sh"
UDP_TOOL = E2E_DIR / "udp_tool.py"
PYTHON_CONSUMER = REPO_ROOT / "examples" / "python_consumer.py"
# The names of our BPF programs (bpf/sniffer.bpf.c), as `bpftool prog show` lists them.
PROGRAM_NAMES = {"sniffer_xdp", "sniffer_tc_in", "sniffer_tc_eg"}

DAEMON_START_TIMEOUT = 10.0
DAEMON_STOP_TIMEOUT = 10.0


# Addresses of scripts/lab-topology.sh.
class Addr:
    WAN4_GW = "198.51.100.1"
    WAN4_PEER = "198.51.100.10"
    WAN6_GW = "2001:db8:100::1"
    WAN6_PEER = "2001:db8:100::10"
    LAN4_GW = "192.0.2.1"
    LAN4_PEER = "192.0.2.10"
    LAN6_GW = "2001:db8:200::1"
    LAN6_PEER = "2001:db8:200::10"

def unavailable(reason):
    """A missing prerequisite: fail, or skip when SNIFFER_ALLOW_SKIP=1."""
    if os.environ.get("SNIFFER_ALLOW_SKIP") == "1":
        pytest.skip(reason)
    pytest.fail(f"{reason} (set SNIFFER_ALLOW_SKIP=1 to skip the e2e tier instead)", pytrace=False)

def build_dir():
    env = os.environ.get("SNIFFER_BUILD_DIR")
    path = Path(env) if env else REPO_ROOT / "build"
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()

@dataclass
class Env:
    build_dir: Path
    sniffer: Path
    sniffer_sub: Path
    proto_dir: Path
    pb2: object
    zmq: object

def run(cmd, check=True, timeout=30, **kwargs):
    """Runs a command, capturing text output; a failure names the command and its stderr."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))}: exit {result.returncode}\n{result.stdout}{result.stderr}",
                    pytrace=False)
    return result

class Lab:
    """One dual-NIC topology: PREFIX-wan (WAN peer), PREFIX-gw (sensor: wan0, lan0), PREFIX-lan."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.wan = f"{prefix}-wan"
        self.gw = f"{prefix}-gw"
        self.lan = f"{prefix}-lan"

    def up(self):
        run([str(TOPOLOGY_SCRIPT), "up", self.prefix])

    def down(self):
        return run([str(TOPOLOGY_SCRIPT), "down", self.prefix], check=False)

    def exec(self, ns, cmd, **kwargs):
        return run(["ip", "netns", "exec", ns, *map(str, cmd)], **kwargs)

    def popen(self, ns, cmd, **kwargs):
        return subprocess.Popen(["ip", "netns", "exec", ns, *map(str, cmd)], **kwargs)

    def links(self, ns=None):
        """`ip -j link` of a namespace (default: the sensor's), by interface name."""
        out = run(["ip", "-n", ns or self.gw, "-j", "link", "show"]).stdout
        return {link["ifname"]: link for link in json.loads(out)}

    def ifindex(self, name):
        return self.links()[name]["ifindex"]

    def ping(self, ns, dst, count=1, wait=1):
        return self.exec(ns, ["ping", "-n", "-q", "-c", count, "-i", "0.2", "-W", wait, dst], check=False)

# capture.workers of every lab config, when set: ctest runs the files where workers
# matter (flows exact, accounting, reload, kernel flows) a second time with 2.
WORKERS = int(os.environ.get("SNIFFER_E2E_WORKERS", "0"))


def lab_config(endpoint, **overrides):
    """The e2e config: WAN wan0 host-based (xdp + tc_egress), LAN lan0 gateway (xdp)."""
    config = {
        "sensor_id": "e2e",
        "interfaces": [
            {"name": "wan0", "role": "wan", "mode": "host-based", "hooks": ["xdp", "tc_egress"]},
            {"name": "lan0", "role": "lan", "mode": "gateway", "hooks": ["xdp"]},
        ],
        "publish": {"endpoint": endpoint, "batch_max_latency_ms": 50, "send_hwm": 100000},
        "capture": {"payload_bytes": 0},
        "filter": {"default_action": "capture", "include_ports": [], "exclude_ports": []},
        # Never the default /sys/fs/bpf/sniffer: a sensor running on this host keeps its pins.
        "pin_path": f"/sys/fs/bpf/sniffer-e2e-{os.getpid()}",
    }
    if WORKERS:  # the workers variant of a test file (tests/CMakeLists.txt)
        config["capture"]["workers"] = WORKERS
    for key, value in overrides.items():  # sections are merged key by key
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config

class NotifySocket:
    """A NOTIFY_SOCKET for one daemon: ready() turns true once it sends READY=1
    (sd_notify), the signal systemd's Type=notify waits for, not a line of its log."""

    def __init__(self):
        self.path = f"/tmp/snf-notify-{secrets.token_hex(6)}.sock"  # short: sun_path has 108 bytes
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []

    def env(self):
        return {**os.environ, "NOTIFY_SOCKET": self.path}

    def ready(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode(errors="replace"))
            except BlockingIOError:
                break
        return any("READY=1" in m.splitlines() for m in self.messages)

    def close(self):
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def wait_ready(proc, notify, stderr, timeout=DAEMON_START_TIMEOUT):
    """Waits for READY=1 from the daemon `proc`; fails the test (with its log) if it exits or times out."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if notify.ready():
                return
            if proc.poll() is not None:
                pytest.fail(f"sniffer exited with {proc.returncode} before READY=1:\n{stderr()}", pytrace=False)
            time.sleep(0.05)
        pytest.fail(f"sniffer sent no READY=1 within {timeout} s:\n{stderr()}", pytrace=False)
    finally:
        notify.close()


class Daemon:
    """The real sniffer binary in the sensor namespace, with its output in files."""

    def __init__(self, env, lab, workdir, config):
        self.env, self.lab, self.workdir = env, lab, workdir
        if "control" in config:  # the control socket's blocks are kept here, not in this host's /var/lib/sniffer
            config.setdefault("blocklist", {}).setdefault("state_file", str(workdir / "blocklist.json"))
        self.config = config
        self.endpoint = config["publish"]["endpoint"]
        self.config_path = workdir / "sniffer.json"
        self.config_path.write_text("// written by tests/e2e/conftest.py\n" + json.dumps(config, indent=2))
        self.stdout_path = workdir / "sniffer.stdout"
        self.stderr_path = workdir / "sniffer.stderr"
        self.proc = None
        self.report = None

    def command(self):
        return [self.env.sniffer, "--config", self.config_path]

    def start(self):
        notify = NotifySocket()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = self.lab.popen(self.lab.gw, self.command(),
                                       stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=notify.env())
        wait_ready(self.proc, notify, self.stderr)
        return self

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """SIGTERM, then SIGKILL if it has not exited after 10 s. Returns True when it
        exited by itself (teardown uses this directly: it must not raise)."""
        if self.proc is None:
            return True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DAEMON_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return False
        return True

    def stop(self):
        """terminate(), then the final JSON report the daemon printed on stdout."""
        if not self.terminate():
            pytest.fail(f"sniffer did not exit within {DAEMON_STOP_TIMEOUT} s of SIGTERM (killed):\n{self.stderr()}",
                        pytrace=False)
        if self.report is None:
            if self.proc.returncode != 0:
                pytest.fail(f"sniffer exited with {self.proc.returncode}:\n{self.stderr()}", pytrace=False)
            lines = [line for line in self.stdout().splitlines() if line.strip()]
            assert len(lines) == 1, f"expected one JSON report line on stdout, got {lines!r}"
            self.report = json.loads(lines[0])
        return self.report


class Subscriber:
    """A real ZeroMQ SUB socket in the test process, decoding real protobuf batches
    on a background thread until stop(): EventBatch on topic "pkt" (items: events),
    FlowBatch on topic "flow" (items: flow records)."""

    BATCH_TYPES = {b"pkt": ("EventBatch", "events"), b"flow": ("FlowBatch", "flows")}

    def __init__(self, env, endpoint, topic=b"pkt", curve=None):
        """curve: None (plaintext), or (server_public, own_public, own_secret) Z85 keys
        (str or bytes) for a sensor with publish.curve."""
        self.env = env
        self.topic = topic
        self.batch_type, self.items_field = self.BATCH_TYPES[topic]
        self.ctx = env.zmq.Context()
        self.sock = self.ctx.socket(env.zmq.SUB)
        self.sock.setsockopt(env.zmq.LINGER, 0)
        self.sock.setsockopt(env.zmq.RCVHWM, 0)  # never drop on our side
        self.sock.setsockopt(env.zmq.SUBSCRIBE, topic)
        if curve is not None:
            server_public, own_public, own_secret = (k.encode() if isinstance(k, str) else k for k in curve)
            self.sock.curve_serverkey = server_public
            self.sock.curve_publickey = own_public
            self.sock.curve_secretkey = own_secret
        self.sock.connect(endpoint)
        self.batches = []
        self.events = []
        self.errors = []
        self.last_receive = time.monotonic()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        zmq = self.env.zmq
        try:
            while not self.stopping.is_set():
                if not self.sock.poll(50):
                    continue
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
                if len(frames) != 2 or frames[0] != self.topic:
                    self.errors.append(f"unexpected message frames {[f[:16] for f in frames]!r}")
                    continue
                batch = getattr(self.env.pb2, self.batch_type)()
                batch.ParseFromString(frames[1])
                with self.lock:
                    self.batches.append(batch)
                    self.events.extend(getattr(batch, self.items_field))
                    self.last_receive = time.monotonic()
        except Exception as e:  # reported by stop()
            self.errors.append(repr(e))

    def count(self):
        with self.lock:
            return len(self.events)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def wait_for(self, predicate, timeout=5.0):
        """Waits until predicate(events) is true; returns it (falsy on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.snapshot())
            if result or time.monotonic() >= deadline:
                return result
            time.sleep(0.05)

    def stop(self, quiet=0.5, timeout=5.0):
        """Keeps receiving until nothing arrived for `quiet` seconds, then closes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                idle = time.monotonic() - self.last_receive
            if idle >= quiet:
                break
            time.sleep(0.05)
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()
        self.ctx.term()
        assert not self.errors, f"subscriber errors: {self.errors}"

def warm_up(lab, received, timeout=10.0):
    """ZeroMQ slow joiner: pings the gateway from the WAN peer until the subscriber
    (received() -> number of events/lines seen so far) sees something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lab.ping(lab.wan, Addr.WAN4_GW, count=1)
        for _ in range(6):
            if received() > 0:
                return
            time.sleep(0.05)
    pytest.fail(f"the subscriber received no event within {timeout} s of warm-up pings", pytrace=False)

@dataclass
class EchoServers:
    """udp_tool.py echo processes, one per namespace, stopped by close()."""

    lab: Lab
    procs: list = field(default_factory=list)

    def start(self, ns, listens):
        cmd = [sys.executable, UDP_TOOL, "echo", "--timeout", "60"]
        for addr, port in listens:
            cmd += ["--listen", addr, port]
        proc = self.lab.popen(ns, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            pytest.fail(f"udp echo server in {ns} did not start: {line!r} {proc.stderr.read()}", pytrace=False)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

def udp_send(lab, ns, src, sport, dst, dport, count, size):
    """count datagrams src:sport -> dst:dport from namespace ns, each answered by the echo server."""
    result = lab.exec(ns, [sys.executable, UDP_TOOL, "send", "--src", src, "--sport", sport, "--dst", dst,
                           "--dport", dport, "--count", count, "--size", size], check=False)
    if result.returncode != 0:
        pytest.fail(f"udp_tool send {src}:{sport} -> {dst}:{dport} in {ns} failed: {result.stdout}{result.stderr}",
                    pytrace=False)
    return json.loads(result.stdout)

def random_ports(n):
    """n distinct UDP ports from a random base (no fixed ports)."""
    base = 20000 + secrets.randbelow(20000)
    return [base + i for i in range(n)]

def packed(addr):
    return ipaddress.ip_address(addr).packed


SCRAPE = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"


def scrape(lab, port):
    """The daemon's /metrics (in the sensor namespace) -> (text, {sample name with labels: value})."""
    text = lab.exec(lab.gw, [sys.executable, "-c", SCRAPE, f"http://127.0.0.1:{port}/metrics"]).stdout
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return text, samples


def scrape_until(lab, port, done, timeout=5.0):
    """The /metrics samples once done(samples) holds, or those of the last scrape at the timeout
    (the endpoint's text is renewed on the daemon's stats interval, every second)."""
    deadline = time.monotonic() + timeout
    while True:
        _, samples = scrape(lab, port)
        if done(samples) or time.monotonic() >= deadline:
            return samples
        time.sleep(0.2)


# A steady UDP sender for `python3 -c SENDER DST DPORT SPORT SECONDS`: one 32-byte
# datagram every 5 ms from a fixed source port; prints how many it sent.
SENDER = """
import socket, sys, time
dst, port, sport, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', sport))
n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    s.sendto(b's' * 32, (dst, port)); n += 1
    time.sleep(0.005)
print(n)
"""


@contextlib.contextmanager
def small_tmpfs(path, size="64k"):
    """A tmpfs of `size` mounted at `path` (made here) for the block: a disk that fills up."""
    path.mkdir()
    run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    try:
        yield path
    finally:
        run(["umount", "-l", str(path)], check=False)


def fill(directory):
    """Fills the file system of `directory` (a small tmpfs) with one file, returned."""
    path = directory / "fill"
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=4k"], capture_output=True)
    return path


def writing_into(pid, directory):
    """Whether process `pid` holds a file of `directory` open (named or not: an O_TMPFILE file shows
    as DIR/#INODE (deleted))."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(f"{directory}/"):
                return True
        except OSError:
            pass
    return False


def wait_log(daemon, text, timeout=5.0):
    """True once `text` appears in the daemon's log (stderr) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in daemon.stderr():
            return True
        time.sleep(0.05)
    return False
