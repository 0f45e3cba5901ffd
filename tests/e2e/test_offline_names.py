"""Capture file names in an offline run's messages (red team R17-12).

A directory that `--read-pcap` walks may be one another user writes into; the names of its files
are theirs. A name with terminal escapes and a line break went to stderr as is: its owner could
clear the operator's screen, set the window's title or add a line that looks like the sensor's own.
Now such names are shown with every byte outside printable ASCII as \\xNN.
"""
import os
import shutil
import struct
import subprocess

from corpus import REPO_PCAPS

CAPTURE = REPO_PCAPS / "web" / "http_bro_org.pcap"
HOSTILE = "a\x1b[2J\x1b]0;T\x07\nsniffer: 0 errors, all good.pcap"
SHOWN = b"a\\x1b[2J\\x1b]0;T\\x07\\x0asniffer: 0 errors, all good.pcap"


def run(env, tmp_path, directory):
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", directory, "--write-csv",
                           tmp_path / "out.csv"], capture_output=True, timeout=120)
    return proc.returncode, proc.stderr


def assert_plain(stderr):
    """No byte a terminal acts on but the line ends, and no line that is not the sensor's."""
    assert not any(b < 0x20 and b != 0x0a or b >= 0x7f for b in stderr), stderr
    assert not any(line.startswith(b"sniffer: 0 errors") for line in stderr.splitlines()), stderr


def test_a_skipped_links_name_is_escaped(env, tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copyfile(CAPTURE, ds / "part0.pcap")
    (tmp_path / "private").mkdir(mode=0o700)
    shutil.copyfile(CAPTURE, tmp_path / "private" / "secret.pcap")
    (ds / HOSTILE).symlink_to(tmp_path / "private" / "secret.pcap")
    os.lchown(ds / HOSTILE, 65534, 65534)  # another user's link: skipped, with a warning naming it
    code, stderr = run(env, tmp_path, ds)
    assert code == 0, stderr
    assert SHOWN + b": a symbolic link of uid 65534 to a file of uid 0, not followed" in stderr, stderr
    assert_plain(stderr)


def test_a_capture_that_fails_is_named_escaped(env, tmp_path):
    ds = tmp_path / "ds"
    ds.mkdir()
    shutil.copyfile(CAPTURE, ds / "part0.pcap")
    # A valid pcap header of link type NULL (0): refused, naming the file.
    (ds / HOSTILE).write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 0))
    code, stderr = run(env, tmp_path, ds)
    assert code == 1, stderr
    assert SHOWN + b": link type NULL is not supported" in stderr, stderr
    assert_plain(stderr)
