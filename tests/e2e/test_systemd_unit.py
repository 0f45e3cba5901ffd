"""config/sniffer.service: systemd accepts it, its exposure score stays low, and the
daemon runs as an unprivileged user with exactly the capabilities it grants; without
any one of them it stops, naming that capability."""
import os
import re
import resource
import shutil
import subprocess
import sys
import time

from e2e_support import REPO_ROOT, SCRAPE, Daemon, NotifySocket, lab_config, random_ports, run, wait_ready
from service_user import service_command, temporary_user, unit_capabilities, user_directory, user_ids

UNIT = REPO_ROOT / "config" / "sniffer.service"


def test_unit_verifies(env, tmp_path):
    # Point ExecStart at the binary just built (verify checks that it exists). Its man
    # page (Documentation=) comes with the package: test_package.py verifies that too.
    unit = tmp_path / "sniffer.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=/usr/sbin/sniffer ", f"ExecStart={env.sniffer} "))
    result = run(["systemd-analyze", "verify", "--man=no", str(unit)], check=False)
    assert result.returncode == 0, result.stderr
    assert "sniffer.service" not in result.stderr, result.stderr


def test_the_units_state_directories_hold_the_default_state_file_and_captures(env):
    """Under ProtectSystem=strict the daemon writes only where the unit says: the default
    blocklist.state_file (the control socket's blocks, kept across restarts) and capture
    directory must lie in its StateDirectory= entries."""
    directories = [f"/var/lib/{entry}" for line in UNIT.read_text().splitlines()
                   if line.startswith("StateDirectory=") for entry in line.split("=", 1)[1].split()]
    reference = run([env.sniffer, "--print-config-reference"]).stdout
    defaults = dict(re.findall(r'^\| `([a-z_.]+)` \| string \| `"([^"]*)"` \|', reference, re.M))
    assert os.path.dirname(defaults["blocklist.state_file"]) in directories, (defaults, directories)
    assert defaults["capture.full_packet_directory"] in directories, (defaults, directories)


def test_unit_exposure_score(env):
    result = run(["systemd-analyze", "security", "--offline=true", str(UNIT)], check=False)
    score = float(re.search(r"Overall exposure level for sniffer.service: ([\d.]+)", result.stdout).group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 1.7, result.stdout  # README.md: 1.7, from 2.3 as root


def start_as_user(lab, env, workdir, user, caps, notify=None, as_root_first=""):
    # A copy the user can run wherever the checkout is (under /root, say).
    binary = workdir / "sniffer"
    if not binary.exists():
        shutil.copy2(env.sniffer, binary)
    config = workdir / "caps.json"
    config.write_text('{"interfaces": [{"name": "wan0", "role": "wan", "mode": "host-based"}],'
                      f' "publish": {{"endpoint": "ipc://{workdir}/caps.sock"}}, "metrics": {{"listen": ""}}}}')
    return lab.popen(lab.gw, service_command(user, caps, [binary, "--config", config], as_root_first),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=notify.env() if notify else None)


def test_daemon_runs_as_a_user_with_exactly_the_units_capabilities(lab, env):
    caps = unit_capabilities(UNIT.read_text())
    assert sorted(caps) == ["bpf", "dac_read_search", "net_admin", "perfmon"]
    with temporary_user() as user, user_directory(user) as workdir:
        notify = NotifySocket()
        os.chmod(notify.path, 0o666)  # the user sends READY=1 to it
        proc = start_as_user(lab, env, workdir, user, caps, notify)
        try:
            # READY=1: loaded, pinned, attached, publishing (its log is read once it has exited).
            wait_ready(proc, notify, lambda: proc.communicate()[1] if proc.poll() is not None else "")
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        for line in ("maps pinned under /sys/fs/bpf/sniffer", "attached xdp", "attached tc egress", "publishing on"):
            assert line in err, err

        # Each capability is needed: without it the daemon stops, naming it.
        for missing in caps:
            proc = start_as_user(lab, env, workdir, user, [c for c in caps if c != missing])
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 1, f"ran without CAP_{missing.upper()}: {err}"
            last = err.strip().splitlines()[-1]
            print(f"without CAP_{missing.upper()}: {last}")
            assert f"without CAP_{missing.upper()}:" in last, err
            assert last.startswith("sniffer: pin_path " if missing == "dac_read_search"
                                   else "sniffer: load the BPF programs into the kernel: "), err



def test_the_units_user_starts_over_a_killed_root_runs_private_lock_file(lab, env):
    """Red team R16-5 with R17-5's 0600 lock files: a root run killed by SIGKILL leaves its lock
    file, root's and 0600, in /run/sniffer. The unit's user opens it read-only (CAP_DAC_READ_SEARCH;
    /proc/locks is hidden from it): its lock free, the start runs on a file of its own; held by a
    live root process, the start is refused naming the pid in it."""
    caps = unit_capabilities(UNIT.read_text())
    lock = "/run/sniffer/sys-fs-bpf-sniffer.lock"
    leftover = f"install -m 0600 /dev/null {lock}; echo 999999 > {lock}"
    held = (f"install -m 0600 /dev/null {lock}; sh -c 'echo $$ > {lock}; exec flock {lock} sleep 5' >/dev/null &\n"
            "sleep 0.3")
    with temporary_user() as user, user_directory(user) as workdir:
        proc = start_as_user(lab, env, workdir, user, caps, as_root_first=held + "\necho holder $(cat " + lock + ")")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 1, err
        holder = out.split("holder ", 1)[1].split()[0]
        assert f"another sniffer (pid {holder}) holds /sys/fs/bpf/sniffer (lock {lock})" in err, err

        notify = NotifySocket()
        os.chmod(notify.path, 0o666)
        proc = start_as_user(lab, env, workdir, user, caps, notify, as_root_first=leftover)
        try:
            wait_ready(proc, notify, lambda: proc.communicate()[1] if proc.poll() is not None else "")
            mine = os.stat(f"/proc/{proc.pid}/root{lock}")  # in the daemon's mount namespace
            assert (mine.st_uid, oct(mine.st_mode & 0o777)) == (user_ids(user)[0], "0o600")
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "another sniffer" not in err, err


# Holds N idle TCP connections to 127.0.0.1:PORT (no ZeroMQ greeting: what an
# unauthenticated client or a port scan leaves) until its stdin closes.
HOLD_CONNECTIONS = """
import resource, socket, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, max(n + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
held = []
for i in range(n):  # not waiting for each: the daemon drops idle ones after ZeroMQ's handshake timeout
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    held.append(s)
    if i % 50 == 49:
        time.sleep(0.02)  # the listener's backlog is 100
time.sleep(1)
print(len(held), flush=True)
sys.stdin.read()
"""


def unit_nofile_limit():
    """The unit's LimitNOFILE (its soft limit); without one, systemd's default soft limit, 1024."""
    match = re.search(r"^LimitNOFILE=(\d+)(?::\d+)?\s*$", UNIT.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 1024


class LimitedDaemon(Daemon):
    """The daemon with the file descriptor limit the unit gives it."""

    def __init__(self, *args, nofile):
        super().__init__(*args)
        self.nofile = nofile

    def command(self):
        return ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--", *super().command()]


def test_idle_connections_to_the_publish_port_do_not_exhaust_the_units_descriptors(lab, env, tmp_path):
    """1,100 idle TCP connections to the publish port (each a descriptor of the daemon until
    ZeroMQ's handshake timeout drops it): under the unit's LimitNOFILE, /metrics still answers.
    Under systemd's default 1,024 the daemon ran out of descriptors and stopped answering."""
    connections = 1100
    nofile = unit_nofile_limit()
    publish_port, metrics_port = random_ports(2)
    config = lab_config(f"tcp://127.0.0.1:{publish_port}", metrics={"listen": f"127.0.0.1:{metrics_port}"})
    # systemd raises the hard limit too; here it cannot go above this process's (20,000
    # on the test machine), which still holds far more than these connections.
    nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    daemon = LimitedDaemon(env, lab, tmp_path, config, nofile=nofile).start()
    holder = None
    try:
        holder = lab.popen(lab.gw, [sys.executable, "-c", HOLD_CONNECTIONS, str(connections), str(publish_port)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == str(connections), "the connections were not all made"
        time.sleep(1)  # the daemon's I/O thread accepts them
        result = lab.exec(lab.gw, [sys.executable, "-c", SCRAPE, f"http://127.0.0.1:{metrics_port}/metrics"],
                          check=False)
        assert result.returncode == 0, (f"/metrics did not answer with {connections} idle connections open "
                                        f"(LimitNOFILE={nofile}):\n{result.stderr[-300:]}")
        assert "sniffer_" in result.stdout
        assert daemon.running(), daemon.stderr()
    finally:
        if holder is not None:
            holder.stdin.close()
            holder.wait(10)
        daemon.terminate()
