"""Maps pinned under bpffs for bpftool; a SIGKILLed daemon leaves nothing attached, its
stale pins are replaced on restart, and a clean exit removes them."""
import json
import os
import secrets
import signal
import subprocess
import time

from e2e_support import run


def ensure_bpffs():
    if subprocess.run(["mountpoint", "-q", "/sys/fs/bpf"]).returncode != 0:
        run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"])


def start(lab, env, config_path):
    # nsenter --net keeps the host's mount namespace, so the pins outlive the process
    # (ip netns exec would give it a private one).
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.gw}", str(env.sniffer), "--config", str(config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        time.sleep(0.2)
        if any("xdp" in link for link in lab.links().values()):
            time.sleep(0.3)
            return proc
    raise AssertionError("daemon did not attach")


def test_pins_survive_sigkill_and_are_replaced_and_removed(lab, env, tmp_path):
    ensure_bpffs()
    pin_dir = f"/sys/fs/bpf/{lab.prefix}-{secrets.token_hex(2)}"
    config = tmp_path / "pin.json"
    config.write_text(json.dumps({
        "interfaces": [{"name": "wan0", "role": "wan", "mode": "host-based"}],
        "publish": {"endpoint": f"ipc://{tmp_path}/pin.sock"}, "metrics": {"listen": ""}, "pin_path": pin_dir}))
    try:
        proc = start(lab, env, config)
        dump = run(["bpftool", "-j", "map", "dump", "pinned", f"{pin_dir}/stats"])
        assert json.loads(dump.stdout), "stats map not readable through its pin"
        assert sorted(os.listdir(pin_dir)) == ["allow_v4", "allow_v6", "block_dst_v4", "block_dst_v6", "block_settings",
                                            "block_src_v4", "block_src_v6", "capture_buf", "capture_counts",
                                            "capture_slots", "captures", "event_rings", "events", "filter_settings",
                                            "flow_blank", "flow_out", "flows", "iface_configs", "kernel_drops",
                                            "local_addrs", "port_filters", "stats"]

        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # The kernel detached the links with the process; the pins stay.
        assert all("xdp" not in link for link in lab.links().values())
        assert os.path.exists(f"{pin_dir}/stats")

        proc = start(lab, env, config)  # a restart needs no manual step
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "replaced a stale pin" in err, err
        assert not os.path.exists(pin_dir), "pins left after a clean exit"
    finally:
        subprocess.run(["rm", "-rf", pin_dir])
