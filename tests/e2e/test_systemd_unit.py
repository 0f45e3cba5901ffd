"""config/sniffer.service: systemd accepts it, its exposure score stays low, and the
daemon runs with exactly the capabilities it grants (and not with fewer)."""
import re
import subprocess


from e2e_support import REPO_ROOT, NotifySocket, run, wait_ready

UNIT = REPO_ROOT / "config" / "sniffer.service"


def unit_capabilities():
    caps = re.search(r"^CapabilityBoundingSet=(.+)$", UNIT.read_text(), re.M).group(1).split()
    return [c.removeprefix("CAP_").lower() for c in caps]


def test_unit_verifies(env, tmp_path):
    # Point ExecStart at the binary just built (verify checks that it exists).
    unit = tmp_path / "sniffer.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/sniffer", str(env.sniffer)))
    result = run(["systemd-analyze", "verify", str(unit)], check=False)
    assert result.returncode == 0, result.stderr
    assert "sniffer.service" not in result.stderr, result.stderr


def test_unit_exposure_score(env):
    result = run(["systemd-analyze", "security", "--offline=true", str(UNIT)], check=False)
    score = float(re.search(r"Overall exposure level for sniffer.service: ([\d.]+)", result.stdout).group(1))
    print(f"systemd-analyze security exposure: {score}")
    assert score <= 3.0, result.stdout


def start_with_caps(lab, env, tmp_path, caps, notify=None):
    config = tmp_path / "caps.json"
    config.write_text('{"interfaces": [{"name": "wan0", "role": "wan", "mode": "host-based"}],'
                      f' "publish": {{"endpoint": "ipc://{tmp_path}/caps.sock"}}, "metrics": {{"listen": ""}},'
                      ' "pin_path": ""}')  # a fresh mount namespace has no bpffs, and mounting needs CAP_SYS_ADMIN
    spec = "-all," + ",".join("+" + c for c in caps)
    return lab.popen(lab.gw, ["setpriv", "--bounding-set", spec, "--inh-caps", spec, "--", env.sniffer,
                              "--config", config], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     env=notify.env() if notify else None)


def test_daemon_runs_with_exactly_the_units_capabilities(lab, env, tmp_path):
    caps = unit_capabilities()
    assert sorted(caps) == ["bpf", "net_admin", "perfmon"]
    notify = NotifySocket()
    proc = start_with_caps(lab, env, tmp_path, caps, notify)
    try:
        # READY=1: loaded, attached, publishing (its log is read once it has exited).
        wait_ready(proc, notify, lambda: proc.communicate()[1] if proc.poll() is not None else "")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "attached xdp" in err and "attached tc egress" in err and "publishing on" in err, err

    # Each capability is needed: without it the daemon stops with a clear error.
    for missing in caps:
        proc = start_with_caps(lab, env, tmp_path, [c for c in caps if c != missing])
        out, err = proc.communicate(timeout=20)
        assert proc.returncode != 0, f"ran without CAP_{missing.upper()}: {err}"
        last = err.strip().splitlines()[-1]
        assert last.startswith("sniffer: load the BPF programs into the kernel: "), err
