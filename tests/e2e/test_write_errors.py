"""Nothing written is lost silently: --write-csv on a full file system or /dev/full exits 1
with one line naming the path and the errno text, and leaves no file that looks complete;
FIFOs and /dev/stdout are written directly, never replaced."""
import os
import signal
import subprocess
import threading
import time

import pytest

from corpus import REPO_PCAPS
from e2e_support import run, writing_into

# IPv4 and IPv6 fragments: about 3,000 flows, ~1 MB of CSV.
CAPTURE = REPO_PCAPS / "fragments" / "defrag_af_confusion_spray.pcap"


def read_pcap(env, csv, **kwargs):
    streams = {} if "stdout" in kwargs else {"capture_output": True}
    return subprocess.run([str(env.sniffer), "--read-pcap", str(CAPTURE), "--write-csv", str(csv)],
                          text=True, timeout=120, **streams, **kwargs)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def full_disk(tmp_path):
    """A 16 KiB tmpfs: far too small for the table."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)])
    try:
        yield mnt
    finally:
        run(["umount", str(mnt)], check=False)


def test_full_file_system_fails_and_leaves_no_partial_table(env, full_disk):
    assert CAPTURE.exists(), f"{CAPTURE} missing"
    target = full_disk / "flows.csv"
    result = read_pcap(env, target)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"sniffer: --write-csv {target}: write: No space left on device (errno 28)"], result.stderr
    assert os.listdir(full_disk) == [], "a partial table or temporary file was left"


def test_full_file_system_keeps_the_previous_complete_table(env, full_disk):
    target = full_disk / "flows.csv"
    target.write_text("previous,complete,table\n")
    result = read_pcap(env, target)
    assert result.returncode == 1
    assert target.read_text() == "previous,complete,table\n"
    assert os.listdir(full_disk) == ["flows.csv"]


def test_dev_full_fails_with_its_name(env):
    result = read_pcap(env, "/dev/full")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "sniffer: --write-csv /dev/full: write: No space left on device (errno 28)"], result.stderr
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")


def test_fifo_and_stdout_are_written_directly(env, tmp_path):
    whole = tmp_path / "whole.csv"
    assert read_pcap(env, whole).returncode == 0
    expected = whole.read_text()
    assert expected.count("\n") > 500

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()))
    reader.start()
    result = read_pcap(env, fifo)
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert received == [expected]
    assert fifo.is_fifo()

    result = read_pcap(env, "/dev/stdout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected), "the table on standard output differs"


# Any spelling of the descriptor (R15-3: /dev//stdout, /proc/thread-self/fd/1, /dev/fd/./1 were
# matched by their text before, and replaced the file), and the file's own name.
@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "/dev//stdout",
                                  "/proc/thread-self/fd/1", "/dev/fd/./1", "/proc/self/fd//1", "DAYS"])
def test_a_table_to_standard_output_appended_to_a_file_keeps_what_it_held(env, tmp_path, name):
    """Red team R14-4: `--write-csv /dev/stdout >> day.csv` resolved /dev/stdout to day.csv and
    renamed the table over it: the earlier days gone, and the report, written to standard output
    after, went to the old file. The name stands for the descriptor, written through as the shell
    opened it: the file keeps its lines, then the table, then the report; same inode."""
    whole = tmp_path / "whole.csv"
    assert read_pcap(env, whole).returncode == 0
    log = tmp_path / "days.csv"
    log.write_text("previous day 1\nprevious day 2\n")
    inode = log.stat().st_ino
    with open(log, "a") as out:
        result = read_pcap(env, log if name == "DAYS" else name, stdout=out, stderr=subprocess.PIPE)
    assert result.returncode == 0, result.stderr
    assert log.stat().st_ino == inode, "the file was replaced"
    text = log.read_text()
    previous, table = "previous day 1\nprevious day 2\n", whole.read_text()
    assert text.startswith(previous + table), text[:300]
    report = text[len(previous + table):]
    assert report.count("\n") == 1 and '"pcap"' in report, report[:300]


def test_final_report_to_a_full_stdout_is_an_error(env, tmp_path):
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(env.sniffer), "--read-pcap", str(CAPTURE), "--write-csv", str(tmp_path / "t.csv")],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        "sniffer: standard output: write: No space left on device (errno 28)"], result.stderr

    with open("/dev/full", "w") as full:
        result = subprocess.run([str(env.sniffer), "-i", "lo:wan:gateway", "--print-config"],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "standard output: write: No space left on device" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL])
def test_a_run_stopped_by_a_signal_leaves_no_temporary_file(env, tmp_path, sig):
    """Ctrl-C, a SIGTERM, or a SIGKILL (the OOM killer, `timeout -s KILL`) in the middle of a long
    run: no table and no temporary file is left (the table is an unnamed O_TMPFILE file until it is
    complete; red team R14-7: each SIGKILL left a `.flows.csv.XXXXXX` for good), and the process
    dies of the signal (its exit status says which)."""
    target = tmp_path / "flows.csv"
    proc = subprocess.Popen([str(env.sniffer), "--read-pcap", "-", "--write-csv", str(target)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            # a background job's shell may have left SIGINT ignored: the user's Ctrl-C is not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        proc.stdin.write(CAPTURE.read_bytes()[:200_000])  # part of it; the pipe stays open: the run goes on
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while not writing_into(proc.pid, tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writing_into(proc.pid, tmp_path), "no table being written"
        proc.send_signal(sig)
        assert proc.wait(30) == -sig, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "left behind"
