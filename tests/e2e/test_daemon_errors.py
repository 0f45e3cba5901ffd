"""The daemon fails cleanly: one clear line naming the cause, a non-zero exit, nothing attached.
Exit codes, for sniffer (and its keygen and block subcommands) and sniffer-sub alike: 0 success
(--help, --version too), 1 a runtime or configuration error, 2 a usage error."""
import json
import os
import secrets
import signal

from e2e_support import Daemon, lab_config, run, wait_log

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
    assert result.returncode == 1, result.stderr  # a config error, not a usage error
    assert "interfaces[0].rol: unknown key" in result.stderr, result.stderr
    assert result.stdout == ""
    for name, link in lab.links().items():
        assert "xdp" not in link, f"{name}: XDP attached by a daemon that failed to start"


def test_config_comments_allowed_and_bad_json_rejected(env, lab, tmp_path):
    """// comments are accepted (the shipped configs are commented); broken JSON is a config error."""
    text = json.dumps(lab_config(f"ipc://{tmp_path}/s.sock", log_level="bogus"), indent=2)
    result = run_daemon(env, lab, tmp_path, "// a comment\n" + text)
    assert result.returncode == 1 and "log_level" in result.stderr, result.stderr  # parsed past the comment
    result = run_daemon(env, lab, tmp_path, text[:-2])
    assert result.returncode == 1 and "not valid JSON" in result.stderr, result.stderr


def test_json_is_read_strictly(env, lab, tmp_path):
    """A key given twice is named by its path (not the last one silently kept); a NUL byte and
    anything after the top-level value are errors (not silently ignored)."""
    config = lab_config(f"ipc://{tmp_path}/s.sock")
    text = json.dumps(config, indent=2)
    twice = text.replace('"publish": {', f'"publish": {{"endpoint": "ipc://{tmp_path}/t.sock",', 1)
    result = run_daemon(env, lab, tmp_path, twice)
    assert result.returncode == 1 and "publish.endpoint: duplicate key" in result.stderr, result.stderr
    result = run_daemon(env, lab, tmp_path, text + "\0{}")
    assert result.returncode == 1 and "not valid JSON: a NUL byte" in result.stderr, result.stderr
    result = run_daemon(env, lab, tmp_path, text + "\n{}")
    assert result.returncode == 1 and "expected end of input" in result.stderr, result.stderr
    for name, link in lab.links().items():
        assert "xdp" not in link, f"{name}: XDP attached by a daemon that failed to start"


def test_a_host_name_endpoint_is_refused_at_config_time(env, lab, tmp_path):
    """ZeroMQ binds to an address or an interface: tcp://localhost:PORT is a config error with a
    hint, before anything is loaded or attached, not a bind error after."""
    result = run_daemon(env, lab, tmp_path, lab_config("tcp://localhost:5557"))
    assert result.returncode == 1, result.stderr
    assert 'publish.endpoint: "tcp://localhost:5557": "localhost" is neither an IP address nor an interface' \
        in result.stderr, result.stderr
    assert "use 127.0.0.1, [::1] or *" in result.stderr, result.stderr
    assert "BPF programs loaded" not in result.stderr and result.stdout == ""
    result = run_daemon(env, lab, tmp_path, lab_config(f"ipc://{tmp_path}/missing/s.sock"))
    assert result.returncode == 1, result.stderr
    assert f'its directory "{tmp_path}/missing" does not exist' in result.stderr, result.stderr


def test_an_unreadable_config_names_the_errno_text(env, tmp_path):
    for path, errno_text in ((tmp_path, "Is a directory"), (tmp_path / "none.json", "No such file or directory")):
        result = run([env.sniffer, "--config", path, "--print-config"], check=False)
        assert result.returncode == 1, result.stderr
        assert f'cannot read config file "{path}": {errno_text}' in result.stderr, result.stderr
    # Not readable by the user running it (root reads any file: run as nobody).
    config = tmp_path / "root-only.json"
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock")))
    os.chmod(config, 0o600)
    os.chmod(tmp_path, 0o755)
    result = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", env.sniffer, "--config", config,
                  "--print-config"], check=False)
    assert result.returncode == 1, result.stderr
    assert f'cannot read config file "{config}": Permission denied' in result.stderr, result.stderr


def test_exit_codes(env, tmp_path):
    """2 for what the command line gets wrong, 1 for a config or runtime error, 0 for --help."""
    sniffer, sub = str(env.sniffer), str(env.sniffer_sub)
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock")))
    cases = [
        ([sniffer, "--help"], 0),
        ([sniffer, "--version"], 0),
        ([sniffer, "keygen", "--help"], 0),
        ([sniffer, "block", "--help"], 0),
        ([sub, "--help"], 0),
        ([sniffer, "--bogus"], 2),
        ([sniffer, "--log-format", "xml", "-i", "wan0:wan:gateway"], 2),
        ([sniffer, "-i", "wan0:inside:gateway"], 2),  # a bad option value
        ([sniffer, "-i", "wan0"], 2),
        ([sniffer, "-i", "wan0:wan:gateway", "-i", "wan0:lan:gateway", "--print-config"], 2),  # the first ignored
        ([sniffer], 2),  # no interfaces at all
        ([sniffer, "keygen"], 2),  # --out missing
        ([sniffer, "block", "list"], 2),  # --endpoint etc. missing
        ([sniffer, "block", "--endpoint", f"ipc://{tmp_path}/c.sock", "--server-key", "x", "--key-file", "y", "add"], 2),
        ([sub], 2),  # --connect missing
        ([sub, "--connect", "tcp://127.0.0.1:1", "--count", "many"], 2),
        ([sub, "--connect", "bogus://x"], 2),
        # Config and runtime errors.
        ([sniffer, "--config", config, "-i", "lan1:wan:gateway", "--print-config"], 1),
        ([sniffer, "keygen", "--out", tmp_path / "nodir" / "k"], 1),
        ([sniffer, "-i", "wan0:wan:gateway", "--read-pcap", tmp_path / "none.pcap", "--write-csv", tmp_path / "f.csv"],
         1),  # a file that cannot be read, like --config
        ([sniffer, "block", "--endpoint", f"ipc://{tmp_path}/c.sock", "--server-key", tmp_path / "none.pub",
          "--key-file", tmp_path / "none.key", "list"], 1),
        ([sub, "--connect", "tcp://127.0.0.1:1", "--server-key", tmp_path / "none.pub", "--key-file",
          tmp_path / "none.key"], 1),
    ]
    for cmd, code in cases:
        result = run(cmd, check=False, timeout=10)
        shown = " ".join(map(str, cmd[1:]))
        assert result.returncode == code, f"{shown}: exit {result.returncode}, expected {code}\n{result.stderr}"
        if code == 0:
            assert result.stdout, shown
        else:
            assert result.stderr.strip(), f"{shown}: no message"


def test_interface_overrides_are_validated_with_the_config(env, lab, tmp_path):
    """-i gets the config file's rules, on the config after the overrides: a second WAN interface
    is refused, naming the option."""
    config = tmp_path / "sniffer.json"
    config.write_text(json.dumps(lab_config(f"ipc://{tmp_path}/s.sock")))  # wan0 wan, lan0 lan
    result = lab.exec(lab.gw, [env.sniffer, "--config", config, "-i", "lan0:wan:gateway"], check=False,
                      timeout=START_TIMEOUT)
    assert result.returncode == 1, result.stderr
    assert ('--interface lan0:wan:gateway.role: "wan" is already the role of interfaces[0] ("wan0"): '
            "a sensor has one WAN interface") in result.stderr, result.stderr
    for name, link in lab.links().items():
        assert "xdp" not in link, f"{name}: XDP attached by a daemon that failed to start"
    # Without a config file, too.
    result = lab.exec(lab.gw, [env.sniffer, "-i", "wan0:wan:gateway", "-i", "lan0:wan:gateway", "--dry-run"],
                      check=False, timeout=START_TIMEOUT)
    assert result.returncode == 1, result.stderr
    assert '--interface lan0:wan:gateway.role: "wan" is already the role of --interface wan0:wan:gateway' \
        in result.stderr, result.stderr


class DaemonWithArgs(Daemon):
    """The e2e Daemon, with command-line options after --config."""

    def __init__(self, env, lab, workdir, config, args):
        super().__init__(env, lab, workdir, config)
        self.args = [str(a) for a in args]

    def command(self):
        return [*super().command(), *self.args]


def test_sighup_validates_the_config_with_the_overrides(env, lab, tmp_path):
    """At SIGHUP the -i overrides are applied to the new file, and the whole result is validated:
    a file that now makes another interface WAN is rejected; the running config stays."""
    config = lab_config(f"ipc://{tmp_path}/s.sock")
    config["interfaces"] = [config["interfaces"][1]]  # lan0 only; wan0 from the command line
    daemon = DaemonWithArgs(env, lab, tmp_path, config, ["-i", "wan0:wan:host-based"])
    try:
        daemon.start()
        config["interfaces"][0]["role"] = "wan"
        daemon.config_path.write_text(json.dumps(config))
        daemon.proc.send_signal(signal.SIGHUP)
        assert wait_log(daemon, "reload rejected"), daemon.stderr()
        assert '--interface wan0:wan:host-based.role: "wan" is already the role of interfaces[0] ("lan0")' \
            in daemon.stderr(), daemon.stderr()
        assert "reload: applied" not in daemon.stderr()
        assert daemon.running()
    finally:
        daemon.terminate()
