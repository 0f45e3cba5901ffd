"""The lab's day-by-day scenarios (vagrant/scenarios/*.sh) in the namespace lab.

Each scenario runs through vagrant/netns-lab.sh, exactly as a user runs it: the topology of
scripts/lab-topology.sh, the gateway prepared by vagrant/prepare-gateway.sh (the script the
Vagrant defender runs), the daemon with config/lab.json, real traffic (hping3, tcpreplay of a
real capture, iperf3), and the scenario's own expected-versus-observed check, taken from the
daemon's report and its ZeroMQ stream. The scenario's exit status is the verdict; its table
is printed when it fails.

Every test uses its own namespace prefix and state directory and removes the lab afterwards,
whatever happened. Missing tools fail the tests unless SNIFFER_ALLOW_SKIP=1 (conftest.py).
"""
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from corpus import REPO_PCAPS
from e2e_support import REPO_ROOT, unavailable

NETNS_LAB = REPO_ROOT / "vagrant" / "netns-lab.sh"
PREPARE_GATEWAY = REPO_ROOT / "vagrant" / "prepare-gateway.sh"
SCENARIO_DIR = REPO_ROOT / "vagrant" / "scenarios"
SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.sh"))
# The gateway scenario replays the in-repository capture (SNIFFER_PCAP_DIR: another corpus).
PCAP_DIR = Path(os.environ.get("SNIFFER_PCAP_DIR", REPO_PCAPS))
GATEWAY_PCAP = "web/http_bro_org.pcap"  # the gateway scenario's default capture
SCENARIO_TIMEOUT = 180

# Tools the scenarios run, by Debian package.
TOOLS = {"hping3": "hping3", "iperf3": "iperf3", "tcpreplay": "tcpreplay", "tcprewrite": "tcpreplay",
         "tshark": "tshark", "ss": "iproute2"}


@pytest.fixture(scope="module")
def scenario_tools(env):
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            unavailable(f"'{tool}' not found in PATH (apt-get install {package}): the lab scenarios need it")
    if not (PCAP_DIR / GATEWAY_PCAP).is_file():
        pytest.fail(f"{PCAP_DIR / GATEWAY_PCAP} not found: the gateway scenario replays it", pytrace=False)


@pytest.fixture
def netns_lab(env, scenario_tools, tmp_path):
    """run(*args) -> CompletedProcess of vagrant/netns-lab.sh under a fresh prefix; the lab is
    removed at teardown (down, then the topology script directly if something was left)."""
    prefix = "snl" + secrets.token_hex(3)
    lab_env = dict(os.environ, NETNS_LAB_STATE=str(tmp_path / "state"), SNIFFER_BUILD_DIR=str(env.build_dir),
                   SNIFFER_PCAP_DIR=str(PCAP_DIR))

    def run(*args, timeout=SCENARIO_TIMEOUT):
        return subprocess.run([str(NETNS_LAB), "--prefix", prefix, *args], env=lab_env, capture_output=True,
                              text=True, timeout=timeout)

    run.prefix = prefix
    try:
        yield run
    finally:
        if (tmp_path / "state" / prefix).exists():
            subprocess.run([str(NETNS_LAB), "--prefix", prefix, "down"], env=lab_env, capture_output=True,
                           text=True, timeout=60)
        if any(Path(f"/run/netns/{prefix}-{n}").exists() for n in ("wan", "gw", "lan")):
            subprocess.run([str(REPO_ROOT / "scripts" / "lab-topology.sh"), "down", prefix], capture_output=True,
                           text=True, timeout=60)
        left = [n for n in ("wan", "gw", "lan") if Path(f"/run/netns/{prefix}-{n}").exists()]
        assert not left, f"namespaces left behind: {left}"


def test_every_scenario_is_tested():
    assert {"host-based", "flood", "gateway", "throughput"} <= set(SCENARIOS), SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(netns_lab, scenario):
    """netns-lab.sh run SCENARIO: up, the scenario, down; its expected-versus-observed check passes."""
    try:
        result = netns_lab("run", scenario)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{scenario} did not finish within {SCENARIO_TIMEOUT} s:\n{e.stdout or ''}{e.stderr or ''}",
                    pytrace=False)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, f"scenario {scenario} failed (exit {result.returncode}):\n{output}"
    assert f"RESULT {scenario}: PASS" in result.stdout, output
    assert "DIFFERS" not in result.stdout, output
    # "run" without --keep removes the lab it brought up.
    assert not Path(f"/run/netns/{netns_lab.prefix}-gw").exists(), "the lab was not removed after the run"


def test_lab_up_is_prepared_and_down_removes_it(netns_lab):
    """up gives a gateway that prepare-gateway.sh --check accepts and a running sensor; down removes all."""
    up = netns_lab("up", timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    status = netns_lab("status", timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "the gateway is prepared" in status.stdout, status.stdout
    assert "DIFFERS" not in status.stdout, status.stdout
    assert "running (pid" in status.stdout, status.stdout
    stop = netns_lab("sensor", "stop", timeout=60)
    assert stop.returncode == 0 and '"kernel"' in stop.stdout, stop.stdout + stop.stderr
    down = netns_lab("down", timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(Path(f"/run/netns/{netns_lab.prefix}-{n}").exists() for n in ("wan", "gw", "lan"))


def test_prepare_gateway_refuses_ambiguous_or_missing_networks(netns_lab):
    """Interfaces are chosen by network or MAC: a network no NIC is on, or a MAC nobody has, is an error."""
    assert netns_lab("up", timeout=60).returncode == 0
    gw = f"{netns_lab.prefix}-gw"
    missing = subprocess.run(["ip", "netns", "exec", gw, str(PREPARE_GATEWAY), "--wan-net", "203.0.113.0/24",
                              "--lan-net", "192.0.2.0/24", "--check"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "no interface has an address in 203.0.113.0/24" in missing.stderr, missing
    by_mac = subprocess.run(["ip", "netns", "exec", gw, str(PREPARE_GATEWAY), "--wan-mac", "02:53:00:64:00:01",
                             "--lan-mac", "02:53:00:02:00:01", "--check", "--print"],
                            capture_output=True, text=True, timeout=30)
    assert by_mac.returncode == 0, by_mac.stdout + by_mac.stderr
    assert "WAN_IF=wan0" in by_mac.stdout and "LAN_IF=lan0" in by_mac.stdout, by_mac.stdout
    same = subprocess.run(["ip", "netns", "exec", gw, str(PREPARE_GATEWAY), "--wan-net", "192.0.2.0/24",
                           "--lan-net", "192.0.2.0/24", "--check"], capture_output=True, text=True, timeout=30)
    assert same.returncode == 1 and "same interface" in same.stderr, same


def test_lab_scripts_are_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        unavailable("'shellcheck' not found (apt-get install shellcheck)")
    scripts = sorted(str(p) for p in (REPO_ROOT / "vagrant").rglob("*.sh"))
    result = subprocess.run(["shellcheck", "-x", *scripts], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vagrantfile_is_valid():
    """`ruby -c` and `vagrant validate` (without a provider: none is packaged to boot VMs here)."""
    for tool in ("ruby", "vagrant"):
        if shutil.which(tool) is None:
            unavailable(f"'{tool}' not found (apt-get install {tool})")
    syntax = subprocess.run(["ruby", "-c", "Vagrantfile"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert syntax.returncode == 0 and "Syntax OK" in syntax.stdout, syntax.stdout + syntax.stderr
    validate = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120)
    assert validate.returncode == 0 and "validated successfully" in validate.stdout, validate.stdout + validate.stderr
