"""The daemon fails cleanly: one clear line naming the cause, a non-zero exit, nothing attached."""
import json
import secrets

from e2e_support import lab_config, run

START_TIMEOUT = 15


def run_daemon(env, lab, tmp_path, config):
    path = tmp_path / "sniffer.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config, indent=2))
    return run(["ip", "netns", "exec", lab.gw, env.sniffer, "--config", path], check=False, timeout=START_TIMEOUT)


def test_missing_interface(env, lab, tmp_path):
    missing = "nosuch" + secrets.token_hex(3)
    config = lab_config(f"ipc://{tmp_path}/s.sock")
    config["interfaces"].append({"name": missing, "role": "lan", "mode": "gateway"})
    result = run_daemon(env, lab, tmp_path, config)
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if missing in line]
    assert len(lines) == 1 and "no such network interface" in lines[0], result.stderr
    assert "interfaces[2].name" in lines[0], result.stderr  # names the config path, too
    assert result.stdout == "", "no report: the daemon never ran"
    for name, link in lab.links().items():
        assert "xdp" not in link, f"{name}: XDP attached by a daemon that failed to start"


def test_unknown_config_key(env, lab, tmp_path):
    config = lab_config(f"ipc://{tmp_path}/s.sock")
    config["interfaces"][0]["rol"] = config["interfaces"][0].pop("role")
    result = run_daemon(env, lab, tmp_path, config)
    assert result.returncode == 2, result.stderr
    assert "interfaces[0].rol: unknown key" in result.stderr, result.stderr
    assert result.stdout == ""
    for name, link in lab.links().items():
        assert "xdp" not in link, f"{name}: XDP attached by a daemon that failed to start"


def test_config_comments_allowed_and_bad_json_rejected(env, lab, tmp_path):
    """// comments are accepted (the shipped configs are commented); broken JSON is a config error."""
    text = json.dumps(lab_config(f"ipc://{tmp_path}/s.sock", log_level="bogus"), indent=2)
    result = run_daemon(env, lab, tmp_path, "// a comment\n" + text)
    assert result.returncode == 2 and "log_level" in result.stderr, result.stderr  # parsed past the comment
    result = run_daemon(env, lab, tmp_path, text[:-2])
    assert result.returncode == 2 and "not valid JSON" in result.stderr, result.stderr
