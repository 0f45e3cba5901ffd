"""The Debian package (scripts/package.sh), end to end on this machine: built from the build
tree, its contents and control fields checked, lintian run, installed with dpkg; the installed
daemon runs as the unit runs it (the user sniffer, the unit's capabilities: service_user.py)
for --check and on the lab's veth pairs, where a real ZeroMQ subscriber decodes its events with
the installed Python module; the installed unit verifies; then purged, leaving nothing.
The purge runs whatever happened before it."""
import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess

import pytest

from e2e_support import REPO_ROOT, NotifySocket, Subscriber, run, unavailable, wait_ready, warm_up
from service_user import service_command, unit_capabilities, user_directory

PACKAGE_SCRIPT = REPO_ROOT / "scripts" / "package.sh"
UNIT = "/usr/lib/systemd/system/sniffer.service"
# What the package must hold (README.md "Install as a Debian package").
FILES = {
    "/usr/sbin/sniffer", "/usr/bin/sniffer-sub", "/etc/sniffer/sniffer.json", UNIT,
    "/usr/share/man/man8/sniffer.8.gz", "/usr/share/man/man1/sniffer-sub.1.gz",
    "/usr/share/sniffer/sniffer.proto", "/usr/share/sniffer/sniffer_pb2.py",
    "/usr/share/doc/sniffer/README.md", "/usr/share/doc/sniffer/copyright", "/usr/share/doc/sniffer/changelog.gz",
}
# Only the package makes these: none may be left after the purge.
OWN_DIRS = ["/etc/sniffer", "/usr/share/sniffer", "/usr/share/doc/sniffer"]


def installed(package):
    result = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return "install ok installed" in result.stdout


def user_exists(name):
    return run(["getent", "passwd", name], check=False).returncode == 0 or \
        run(["getent", "group", name], check=False).returncode == 0


@pytest.fixture
def deb(env, tmp_path):
    for tool in ("dpkg-shlibdeps", "help2man", "lintian", "setpriv", "systemd-analyze"):
        if shutil.which(tool) is None:
            unavailable(f"'{tool}' not found (scripts/install-deps.sh installs it)")
    if installed("sniffer") or user_exists("sniffer"):
        pytest.fail("a sniffer package or user exists on this machine: the test would purge it; remove it first",
                    pytrace=False)
    result = run([PACKAGE_SCRIPT, tmp_path / "out"], timeout=900,
                 env={**os.environ, "SNIFFER_BUILD_DIR": str(env.build_dir)})
    return result.stdout.strip()


def check_package(env, deb):
    """Contents, control fields and lintian; returns the version."""
    assert os.path.basename(deb) == f"sniffer_{env_version(env)}_{arch()}.deb"
    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {line.split()[-1].removeprefix(".").rstrip("/") for line in listing.splitlines()}
    assert FILES <= paths, f"missing: {sorted(FILES - paths)}"
    assert not [p for p in paths if p.startswith("/usr/local") or p.endswith(".bpf.o")], listing
    print(listing)
    info = run(["dpkg-deb", "-I", deb]).stdout
    print(info)
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    assert fields["Package"] == "sniffer"
    assert fields["Version"] == env_version(env)
    assert fields["Architecture"] == arch()
    depends = {d.split()[0] for d in fields["Depends"].split(", ")}
    # From dpkg-shlibdeps (the libraries the programs link), and adduser for postinst.
    assert {"adduser", "libbpf1", "libxdp1", "libzmq5", "libprotobuf32", "libc6"} <= depends, fields["Depends"]
    assert run(["dpkg-deb", "-I", deb, "conffiles"]).stdout.split() == ["/etc/sniffer/sniffer.json"]
    lintian = run(["lintian", deb], check=False, timeout=300)
    print(f"lintian:\n{lintian.stdout}{lintian.stderr}")
    assert not [line for line in lintian.stdout.splitlines() if line.startswith("E:")], lintian.stdout


def env_version(env):
    return run([env.sniffer, "--version"]).stdout.split()[1]


def arch():
    return run(["dpkg", "--print-architecture"]).stdout.strip()


def lab_config_from_installed(workdir):
    """/etc/sniffer/sniffer.json with the lab's interfaces, an ipc endpoint in workdir and no metrics port."""
    text = open("/etc/sniffer/sniffer.json").read()
    replacements = {'"name": "eth0"': '"name": "wan0"', '"name": "eth1"': '"name": "lan0"',
                    '"endpoint": "tcp://127.0.0.1:5556"': f'"endpoint": "ipc://{workdir}/events.sock"',
                    '"listen": "127.0.0.1:9750"': '"listen": ""'}
    for old, new in replacements.items():
        assert text.count(old) == 1, f"/etc/sniffer/sniffer.json: cannot find {old} to adjust"
        text = text.replace(old, new)
    path = workdir / "sniffer.json"
    path.write_text(text)
    return path


def installed_pb2():
    """The consumers' module the package installed."""
    spec = importlib.util.spec_from_file_location("sniffer_pb2", "/usr/share/sniffer/sniffer_pb2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_installed(env, lab, caps):
    """--check, then the daemon, as the user sniffer with `caps`, on the installed config."""
    with user_directory("sniffer") as workdir:
        config = lab_config_from_installed(workdir)
        check = lab.exec(lab.gw, service_command("sniffer", caps, ["/usr/sbin/sniffer", "--check", "--config", config]),
                         check=False)
        print(check.stdout)
        assert check.returncode == 0 and "ready to run" in check.stdout, check.stdout + check.stderr

        notify = NotifySocket()
        os.chmod(notify.path, 0o666)  # the user sends READY=1 to it
        proc = lab.popen(lab.gw, service_command("sniffer", caps, ["/usr/sbin/sniffer", "--config", config]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=notify.env())
        try:
            wait_ready(proc, notify, lambda: proc.communicate()[1] if proc.poll() is not None else "")
            sub = Subscriber(dataclasses.replace(env, pb2=installed_pb2()), f"ipc://{workdir}/events.sock")
            warm_up(lab, sub.count)
            sub.stop()
            assert any(e.interface == "wan0" for e in sub.events), sub.events[:3]
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "running as uid" not in err, err


def test_package_installs_runs_and_purges(env, lab, deb):
    check_package(env, deb)
    try:
        run(["dpkg", "-i", deb], timeout=120)
        assert run(["/usr/sbin/sniffer", "--version"]).stdout.split()[1] == env_version(env)
        assert run(["sniffer-sub", "--version"]).stdout.strip() == f"sniffer-sub {env_version(env)}"
        assert run(["getent", "passwd", "sniffer"]).stdout.split(":")[6].strip() == "/usr/sbin/nologin"
        assert not os.path.exists("/etc/systemd/system/multi-user.target.wants/sniffer.service")  # disabled
        verify = run(["systemd-analyze", "verify", UNIT], check=False)
        assert verify.returncode == 0 and "sniffer.service" not in verify.stderr, verify.stderr
        unit = open(UNIT).read()
        assert "User=sniffer" in unit and "ExecStart=/usr/sbin/sniffer " in unit
        run_installed(env, lab, unit_capabilities(unit))
    finally:
        purge = run(["dpkg", "--purge", "sniffer"], check=False, timeout=120)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not installed("sniffer")
    left = [p for p in sorted(FILES) + OWN_DIRS if os.path.lexists(p)]
    assert not left, f"left after the purge: {left}"
    assert not user_exists("sniffer"), "the user or group sniffer is left after the purge"
