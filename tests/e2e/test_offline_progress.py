"""The offline progress bar and summary line (issue 14): with stderr a terminal (a pseudo-terminal
here), --read-pcap redraws one progress line in place (carriage returns): bytes of the total and
percent, files done, rates, flows, ETA; at the end one summary line, always. On a pipe only the
summary line; --progress draws the bar on a pipe too. Standard input has no known size: its bar has
no percent and no ETA. The report's pcap section carries the peak RSS.

The inputs are the flood/ and fragments/ captures: 4 files, 6104 packets, read to their ends. The
bar is first drawn after the first 4096 packets whatever the time, and a last time at the end, so
these runs draw it at least twice without depending on how fast the machine is.
"""
import json
import os
import pty
import re
import select
import subprocess
import tty

from corpus import REPO_PCAPS

INPUTS = [REPO_PCAPS / "flood", REPO_PCAPS / "fragments"]
FILES = sorted(f for d in INPUTS for f in d.iterdir() if f.suffix == ".pcap")
STDIN_CAPTURE = REPO_PCAPS / "fragments" / "defrag_af_confusion_spray.pcap"  # 4096 packets

SIZE = r"\d+(?:\.\d)? (?:B|KiB|MiB|GiB)"
RATE = r"\d+(?:\.\d+)?(?: [kM])?"
BAR = re.compile(rf"^({SIZE})(?: / ({SIZE}) \((\d+)%\))?  files (\d+)/(\d+)  {SIZE}/s  {RATE} packets/s  "
                 rf"(\d+) flows(?:  ETA (\d+:\d\d(?::\d\d)?|--))?$")
SUMMARY = re.compile(rf"^sniffer: (\d+) packets from (\d+) files? in \d+\.\d\d s \({RATE} packets/s\), (\d+) flows, "
                     rf"peak RSS ({SIZE})$")


def format_bytes(n):
    """The bar's units (offline_progress.cpp format_bytes)."""
    if n < 1024:
        return f"{n} B"
    value, units = n / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def command(env, tmp_path, inputs, *extra):
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    return [env.sniffer, "--config", config, "--read-pcap", *inputs, "--write-csv", tmp_path / "flows.csv", *extra]


def run_on_terminal(cmd):
    """(stdout, what the program wrote to its terminal stderr, exit code): stderr is a raw pseudo-terminal
    (no newline translation), read until the program has closed it."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    terminal = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "no output and no end within 60 s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    return stdout.decode(), terminal.decode(), proc.returncode


def bars_and_summary(stderr):
    """(the bar's successive texts, the summary line's match) of a run's stderr: every draw starts with a
    carriage return, the last one ends with a newline; the summary is the last line."""
    lines = stderr.split("\n")
    assert lines[-1] == "", repr(stderr)
    summary = SUMMARY.match(lines[-2])
    assert summary, repr(stderr)
    bar_line = "\n".join(lines[:-2])
    draws = [d.rstrip(" ") for d in bar_line.split("\r")[1:]]  # a shorter draw blanks the longer one's rest
    assert bar_line.startswith("\r") or not bar_line, repr(stderr)
    return [BAR.match(d) for d in draws], summary, draws


def check_summary(summary, report, files):
    pcap = report["pcap"]
    assert int(summary[1]) == pcap["packets_read"] == 6104
    assert int(summary[2]) == pcap["files"] == files
    assert int(summary[3]) == report["userspace"]["flows"]["created"] > 0
    assert 1 << 20 < pcap["peak_rss_bytes"] < 4 << 30, pcap
    # The line and the report measure the peak at the same moment.
    assert summary[4] == format_bytes(pcap["peak_rss_bytes"]), (summary[4], pcap["peak_rss_bytes"])


def check_bar_with_total(bars, draws, report):
    assert len(bars) >= 2, draws  # after the first 4096 packets, and at the end
    assert all(bars), draws
    total = sum(f.stat().st_size for f in FILES)
    assert {b[2] for b in bars} == {format_bytes(total)}
    percents = [int(b[3]) for b in bars]
    assert percents == sorted(percents) and percents[0] < 100 and percents[-1] == 100, draws
    assert {int(b[5]) for b in bars} == {len(FILES)}
    assert int(bars[0][4]) < len(FILES) and int(bars[-1][4]) == len(FILES), draws
    assert bars[-1][1] == format_bytes(total)
    assert int(bars[-1][6]) == report["userspace"]["flows"]["created"]
    assert all(b[7] for b in bars), draws


def test_a_terminal_shows_the_bar_redrawn_in_place_then_the_summary(env, tmp_path):
    stdout, terminal, rc = run_on_terminal(command(env, tmp_path, INPUTS))
    assert rc == 0, terminal
    report = json.loads(stdout)
    bars, summary, draws = bars_and_summary(terminal)
    check_bar_with_total(bars, draws, report)
    check_summary(summary, report, len(FILES))


def run_on_pipe(cmd, stdin=None):
    """(stdout, stderr, exit code) with stderr a pipe; bytes decoded as they are (text=True would turn
    every carriage return into a newline)."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    return proc.stdout.decode(), proc.stderr.decode(), proc.returncode


def test_a_pipe_gets_the_summary_line_only(env, tmp_path):
    stdout, stderr, rc = run_on_pipe(command(env, tmp_path, INPUTS))
    assert rc == 0, stderr
    report = json.loads(stdout)
    assert "\r" not in stderr
    assert stderr.count("\n") == 1, stderr
    bars, summary, _ = bars_and_summary(stderr)
    assert bars == []
    check_summary(summary, report, len(FILES))


def test_progress_draws_the_bar_on_a_pipe(env, tmp_path):
    stdout, stderr, rc = run_on_pipe(command(env, tmp_path, INPUTS, "--progress"))
    assert rc == 0, stderr
    report = json.loads(stdout)
    bars, summary, draws = bars_and_summary(stderr)
    check_bar_with_total(bars, draws, report)
    check_summary(summary, report, len(FILES))


def test_standard_input_has_no_percent_nor_eta(env, tmp_path):
    data = STDIN_CAPTURE.read_bytes()
    stdout, stderr, rc = run_on_pipe(command(env, tmp_path, ["-"], "--progress"), stdin=data)
    assert rc == 0, stderr
    bars, summary, draws = bars_and_summary(stderr)
    assert len(bars) >= 2 and all(bars), draws
    assert all(b[2] is None and b[7] is None for b in bars), draws
    assert "%" not in stderr and "ETA" not in stderr
    assert {b[5] for b in bars} == {"1"} and bars[-1][4] == "1"
    # A pipe has no position: the classic pcap's records read are counted, which add up to the file.
    assert bars[-1][1] == format_bytes(len(data))
    report = json.loads(stdout)
    assert int(summary[1]) == report["pcap"]["packets_read"] >= 4096
    assert summary[2] == "1"
