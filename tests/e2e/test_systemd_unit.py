"""config/sniffer.service: systemd accepts it, its exposure score stays low, and the
daemon runs as an unprivileged user with exactly the capabilities it grants; without
any one of them it stops, naming that capability."""
import os
import re
import shutil
import subprocess

from e2e_support import REPO_ROOT, NotifySocket, run, wait_ready
from service_user import service_command, temporary_user, unit_capabilities, user_directory

UNIT = REPO_ROOT / "config" / "sniffer.service"


def test_unit_verifies(env, tmp_path):
    # Point ExecStart at the binary just built (verify checks that it exists). Its man
    # page (Documentation=) comes with the package: test_package.py verifies that too.
    unit = tmp_path / "sniffer.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=/usr/sbin/sniffer ", f"ExecStart={env.sniffer} "))
    result = run(["systemd-analyze", "verify", "--man=no", str(unit)], check=False)
    assert result.returncode == 0, result.stderr
    assert "sniffer.service" not in result.stderr, result.stderr


def test_unit_exposure_score(env):
    result = run(["systemd-analyze", "security", "--offline=true", str(UNIT)], check=False)
    score = float(re.search(r"Overall exposure level for sniffer.service: ([\d.]+)", result.stdout).group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 1.7, result.stdout  # README.md: 1.7, from 2.3 as root


def start_as_user(lab, env, workdir, user, caps, notify=None):
    # A copy the user can run wherever the checkout is (under /root, say).
    binary = workdir / "sniffer"
    if not binary.exists():
        shutil.copy2(env.sniffer, binary)
    config = workdir / "caps.json"
    config.write_text('{"interfaces": [{"name": "wan0", "role": "wan", "mode": "host-based"}],'
                      f' "publish": {{"endpoint": "ipc://{workdir}/caps.sock"}}, "metrics": {{"listen": ""}}}}')
    return lab.popen(lab.gw, service_command(user, caps, [binary, "--config", config]),
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
