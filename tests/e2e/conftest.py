"""Fixtures of the e2e tier: real namespaces, the real daemon, real traffic, a real subscriber.

Run as root:  SNIFFER_BUILD_DIR=build python3 -m pytest -v tests/e2e

- Missing privileges or tools FAIL the tests (a skipped e2e test would hide that the tier
  did not run), unless SNIFFER_ALLOW_SKIP=1 is set: then they are skipped.
- SNIFFER_BUILD_DIR (default: ./build of the repository) holds build/sniffer,
  build/sniffer-sub and build/proto/sniffer_pb2.py.
- Every test builds its own topology (scripts/lab-topology.sh) under a random prefix
  and removes it afterwards, whatever happened; publish endpoints are ipc:// sockets
  in the test's tmp dir, so nothing is fixed and tests do not collide.
"""
import os
import shutil
import secrets
import sys

import pytest

from corpus import REPO_PCAPS, corpus_line
from e2e_support import (Daemon, EchoServers, Env, Lab, Subscriber, build_dir, lab_config,
                         unavailable)


def pytest_report_header(config):
    """Shown at the top of every e2e run (ctest -V, --output-on-failure): the captures used."""
    return [corpus_line() + " (corpus-wide tests; SNIFFER_PCAPS=DIR selects another)",
            f"named captures: {REPO_PCAPS}"]


@pytest.fixture(scope="session")
def env():
    """Checks every prerequisite once; the Env gives the binaries and modules."""
    if os.geteuid() != 0:
        unavailable("the e2e tier needs root (network namespaces, BPF)")
    for tool in ("ip", "ethtool", "bpftool", "sysctl", "ping"):
        if shutil.which(tool) is None:
            unavailable(f"'{tool}' not found in PATH (install iproute2, ethtool, bpftool, procps, iputils-ping)")
    bdir = build_dir()
    sniffer, sniffer_sub, proto_dir = bdir / "sniffer", bdir / "sniffer-sub", bdir / "proto"
    for binary in (sniffer, sniffer_sub):
        if not os.access(binary, os.X_OK):
            unavailable(f"{binary} not built (cmake -S . -B build && cmake --build build; or set SNIFFER_BUILD_DIR)")
    try:
        import zmq
    except ImportError as e:
        unavailable(f"cannot import zmq ({e}): install python3-zmq, run with Debian's python3")
    if not (proto_dir / "sniffer_pb2.py").exists():
        unavailable(f"{proto_dir}/sniffer_pb2.py not generated (build the project)")
    sys.path.insert(0, str(proto_dir))
    try:
        import sniffer_pb2
    except ImportError as e:
        unavailable(f"cannot import sniffer_pb2 from {proto_dir} ({e}): install python3-protobuf")
    return Env(bdir, sniffer, sniffer_sub, proto_dir, sniffer_pb2, zmq)


@pytest.fixture
def lab(env):
    """A fresh topology under a random prefix (after SNIFFER_E2E_NETNS_PREFIX, "snf" by default:
    sessions sharing a host can tell their namespaces apart), removed after the test even when it fails."""
    topology = Lab(os.environ.get("SNIFFER_E2E_NETNS_PREFIX", "snf") + secrets.token_hex(3))
    try:
        topology.up()
        yield topology
    finally:
        result = topology.down()
        if result.returncode != 0:
            print(f"lab-topology.sh down {topology.prefix} failed:\n{result.stderr}", file=sys.stderr)


@pytest.fixture
def start_daemon(env, lab, tmp_path):
    """start_daemon(**config overrides) -> a running Daemon; stopped at teardown (if the test did not)."""
    daemons = []

    def start(**overrides):
        endpoint = f"ipc://{tmp_path}/sniffer-{len(daemons)}.sock"
        daemon = Daemon(env, lab, tmp_path, lab_config(endpoint, **overrides))
        daemons.append(daemon)
        return daemon.start()

    yield start
    for daemon in daemons:
        if not daemon.terminate():
            print(f"sniffer (pid {daemon.proc.pid}) ignored SIGTERM for 10 s: killed", file=sys.stderr)


@pytest.fixture
def subscribe(env):
    """subscribe(endpoint, topic=b"pkt") -> a Subscriber; closed at teardown."""
    subs = []

    def make(endpoint, topic=b"pkt"):
        sub = Subscriber(env, endpoint, topic)
        subs.append(sub)
        return sub

    yield make
    for sub in subs:
        if not sub.stopping.is_set():
            sub.stopping.set()
            sub.thread.join(2)
            sub.sock.close()
            sub.ctx.term()


@pytest.fixture
def echo_servers(lab):
    servers = EchoServers(lab)
    yield servers
    servers.close()
