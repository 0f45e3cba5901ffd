"""Many files, one table (issue 14): --read-pcap takes several files, directories, quoted glob
patterns and "-" (standard input); the files are merged by timestamp into one stream, so a
capture split into pieces gives the same flow table as the whole, whatever order the pieces
are named in, and flows that cross a piece's boundary stay one flow. pcapng reads like pcap.

The reference capture is web/http_bro_org.pcap (751 packets, 13 TCP flows, six of them open
together at the start): cut at packet 200 (inside those six flows) and at packet 689 (between
flows). The whole CSV is compared, row for row (as a multiset: flow ids included).
"""
import csv
import gzip
import json
import os
import resource
import shutil
import struct
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from corpus import REPO_PCAPS

CAPTURE = REPO_PCAPS / "web" / "http_bro_org.pcap"
CUTS = (200, 689)  # mid-flow, then at a flow boundary


def records(path):
    """(global header, [(timestamp, record bytes)]) of a classic little-endian microsecond pcap."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xa1b2c3d4
    out, off = [], 24
    while off < len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec * 1_000_000 + usec, data[off:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], out


def split_capture(path, cuts, directory):
    """The capture cut into len(cuts) + 1 files part0.pcap... at those packet indexes."""
    header, recs = records(path)
    bounds = [0, *cuts, len(recs)]
    parts = []
    directory.mkdir(exist_ok=True)
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        # A tie at a cut would make the order of the two packets the merge's choice, not the file's.
        assert lo == 0 or recs[lo - 1][0] < recs[lo][0], f"equal timestamps at cut {lo}"
        part = directory / f"part{i}.pcap"
        part.write_bytes(header + b"".join(r for _, r in recs[lo:hi]))
        parts.append(part)
    return parts


def offline(env, tmp_path, inputs, name, stdin=None):
    """(CSV rows as a Counter, the report's pcap section) of one --read-pcap run that succeeded."""
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    out = tmp_path / f"{name}.csv"
    proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", *inputs, "--write-csv", out],
                          stdin=stdin, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout.decode().splitlines()[-1])["pcap"]
    with open(out) as f:
        return Counter(tuple(row) for row in csv.reader(f)), report


def failed(env, tmp_path, inputs):
    """The stderr of a --read-pcap run that must fail with exit 1, having written no CSV."""
    out = tmp_path / "failed.csv"
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", *inputs, "--write-csv", out],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert not out.exists(), "the CSV was written before the inputs were checked"
    return proc.stderr


@pytest.fixture
def whole(env, tmp_path):
    rows, report = offline(env, tmp_path, [CAPTURE], "whole")
    assert report["files"] == 1 and report["packets_read"] == 751, report
    assert sum(1 for r in rows if r[0] != "Flow ID") == 13
    return rows


def test_a_capture_split_in_three_gives_the_table_of_the_whole(env, tmp_path, whole):
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    runs = {"in order": [str(p) for p in parts],
            "reversed": [str(p) for p in reversed(parts)],
            "directory": [str(tmp_path / "parts")],
            "quoted pattern": [str(tmp_path / "parts" / "part*.pcap")]}
    for name, inputs in runs.items():
        rows, report = offline(env, tmp_path, inputs, name.replace(" ", "_"))
        assert (report["files"], report["packets_read"], report["read_error"]) == (3, 751, ""), (name, report)
        assert rows == whole, f"{name}: {sorted((rows - whole).elements())} instead of {sorted((whole - rows).elements())}"


def test_two_captures_of_one_time_span_interleave(env, tmp_path, whole):
    """The capture split by flow (client port odd / even): two files overlapping in time, as two
    taps of one network write them; the merge interleaves them back into the whole."""
    header, recs = records(CAPTURE)
    client_port = [struct.unpack_from("!HH", r, 16 + 14 + 20) for _, r in recs]
    odd = [r for (_, r), ports in zip(recs, client_port) if max(ports) % 2]
    even = [r for (_, r), ports in zip(recs, client_port) if not max(ports) % 2]
    assert odd and even
    (tmp_path / "odd.pcap").write_bytes(header + b"".join(odd))
    (tmp_path / "even.pcap").write_bytes(header + b"".join(even))
    rows, report = offline(env, tmp_path, [tmp_path / "odd.pcap", tmp_path / "even.pcap"], "interleaved")
    assert (report["files"], report["packets_read"]) == (2, 751), report
    assert rows == whole


def test_standard_input_plain_and_through_zcat(env, tmp_path, whole):
    with open(CAPTURE, "rb") as f:
        rows, report = offline(env, tmp_path, ["-"], "stdin", stdin=f)
    assert (report["file"], report["packets_read"]) == ("-", 751), report
    assert rows == whole
    gz = tmp_path / "capture.pcap.gz"
    gz.write_bytes(gzip.compress(CAPTURE.read_bytes()))
    zcat = subprocess.Popen(["zcat", gz], stdout=subprocess.PIPE)
    rows, report = offline(env, tmp_path, ["-"], "zcat", stdin=zcat.stdout)
    zcat.stdout.close()
    assert zcat.wait() == 0
    assert report["packets_read"] == 751, report
    assert rows == whole


def test_pcapng_gives_the_table_of_pcap(env, tmp_path, whole):
    if shutil.which("editcap") is None:
        pytest.fail("editcap not found (install wireshark-common / tshark)")
    ng = tmp_path / "capture.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", CAPTURE, ng], check=True, timeout=60)
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a section header block: really pcapng
    rows, _ = offline(env, tmp_path, [ng], "pcapng")
    assert rows == whole
    # pcapng and pcap pieces together, one from standard input.
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    subprocess.run(["editcap", "-F", "pcapng", parts[1], tmp_path / "part1.pcapng"], check=True, timeout=60)
    with open(parts[0], "rb") as f:
        rows, report = offline(env, tmp_path, [parts[2], "-", tmp_path / "part1.pcapng"], "mixed", stdin=f)
    assert (report["files"], report["packets_read"]) == (3, 751), report
    assert rows == whole


def test_input_errors_name_the_input_before_anything_is_read(env, tmp_path):
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    missing = tmp_path / "parts" / "part9.pcap"
    assert f"{missing}: no such file or directory" in failed(env, tmp_path, [parts[0], missing, parts[1]])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no capture here")
    assert f"{tmp_path / 'empty'}: no capture files" in failed(env, tmp_path, [tmp_path / "empty"])
    assert "nothing*.pcap: no file matches" in failed(env, tmp_path, [tmp_path / "nothing*.pcap"])
    assert "./part0.pcap: given twice" in failed(env, tmp_path, [parts[0], f"{tmp_path}/parts/./part0.pcap"])
    (tmp_path / "notes.pcap").write_text("this is not a capture file")
    assert "notes.pcap" in failed(env, tmp_path, [parts[0], tmp_path / "notes.pcap"])


def test_a_piece_cut_short_keeps_what_was_read_and_the_other_pieces(env, tmp_path):
    """As with one file: the records before the broken one count, the error names the file, exit 1."""
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[:-10])  # the last record of the middle piece cut short
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", *parts, "--write-csv", tmp_path / "f.csv"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])["pcap"]
    assert report["packets_read"] == 750 and report["files"] == 3, report
    assert str(parts[1]) in report["read_error"], report
    assert f"--read-pcap {parts[1]}: read error after {CUTS[1] - CUTS[0] - 1} packets" in proc.stderr


def shifted_copies(directory, recs, header, offsets_us):
    """One file a copy of recs with its timestamps moved by each offset; and every record of
    them in the merge's order (time, then the file named first), for one reference file."""
    directory.mkdir()
    merged = []
    for f, offset in enumerate(offsets_us):
        moved = []
        for i, (ts, rec) in enumerate(recs):
            t = ts + offset
            moved.append(struct.pack("<II", t // 1_000_000, t % 1_000_000) + rec[8:])
            merged.append((t, f, i, moved[-1]))
        (directory / f"f{f:05d}.pcap").write_bytes(header + b"".join(moved))
    (directory.parent / f"{directory.name}.reference.pcap").write_bytes(
        header + b"".join(r for *_, r in sorted(merged)))
    return directory.parent / f"{directory.name}.reference.pcap"


def offline_with_files_limit(env, tmp_path, inputs, name, nofile):
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    out = tmp_path / f"{name}.csv"
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # noqa: E731
    proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", *inputs, "--write-csv", out],
                          capture_output=True, timeout=300, preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    with open(out) as f:
        return Counter(tuple(row) for row in csv.reader(f)), json.loads(proc.stdout.decode().splitlines()[-1])["pcap"]


@pytest.mark.parametrize("files,overlap", [(3000, 1), (400, 200)])
def test_thousands_of_files_under_a_small_open_files_limit(env, tmp_path, files, overlap):
    """F1: the merge keeps few files open, however many there are. 3,000 files one after another
    (each the capture's first 20 packets, moved in time), or 400 of which 200 overlap at once
    (more than may be open under `ulimit -n 256`: 128), give the table of one file holding the same
    packets in the merge's order, and the peak RSS stays near one file's (it grew 73 KB a file)."""
    header, recs = records(CAPTURE)
    recs = recs[:20]
    span = recs[-1][0] - recs[0][0]
    step = span + 1_000_000 if overlap == 1 else span // overlap  # after the one before, or 200 at once
    offsets = [f * step for f in range(files)]
    reference = shifted_copies(tmp_path / "many", recs, header, offsets)
    one, one_report = offline_with_files_limit(env, tmp_path, [reference], "one", 256)
    many, report = offline_with_files_limit(env, tmp_path, [tmp_path / "many"], "many", 256)
    assert (report["files"], report["packets_read"], report["read_error"]) == (files, 20 * files, ""), report
    assert one_report["packets_read"] == 20 * files
    assert many == one, f"{sorted((many - one).elements())[:5]} instead of {sorted((one - many).elements())[:5]}"
    assert report["peak_rss_bytes"] < one_report["peak_rss_bytes"] + (32 << 20), (report, one_report)


def read_directory(env, tmp_path, directory):
    """(exit status, the report's pcap section or None, stderr) of --read-pcap DIRECTORY."""
    proc = subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", directory, "--write-csv",
                           tmp_path / "dir.csv"], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    return proc.returncode, json.loads(lines[-1])["pcap"] if lines else None, proc.stderr


def data_set_with_links(tmp_path):
    """ds/part0.pcap, ds/sub/part1.pcap and ds/mine.pcap (root's link to part2): the whole capture;
    beside it two private directories (0700) of other captures, linked from ds: one as a directory
    (ds/elsewhere), the other's file by uid 65534's link (ds/foreign.pcap)."""
    pieces = split_capture(CAPTURE, CUTS, tmp_path / "pieces")
    ds, private = tmp_path / "ds", tmp_path / "private"
    (ds / "sub").mkdir(parents=True)
    private.mkdir(mode=0o700)
    (tmp_path / "private2").mkdir(mode=0o700)
    shutil.copyfile(pieces[0], ds / "part0.pcap")
    shutil.copyfile(pieces[1], ds / "sub" / "part1.pcap")
    (ds / "mine.pcap").symlink_to(pieces[2])
    shutil.copyfile(REPO_PCAPS / "dns" / "dnssec.pcap", private / "secret.pcap")
    (ds / "elsewhere").symlink_to(private)
    shutil.copyfile(REPO_PCAPS / "smb" / "smb3.pcap", tmp_path / "private2" / "secret.pcap")
    (ds / "foreign.pcap").symlink_to(tmp_path / "private2" / "secret.pcap")
    os.lchown(ds / "foreign.pcap", 65534, 65534)
    return ds


def test_a_directorys_walk_follows_no_link_to_a_directory_nor_another_users_link(env, tmp_path):
    """Red team R16-6: a user who may write into a data set that root converts linked a directory,
    or a capture, that it cannot read itself, and its flows landed in the table (the base read 5
    files here). Now the walk reads the three files of the data set (its own link included), and
    says which links it skipped."""
    ds = data_set_with_links(tmp_path)
    code, report, stderr = read_directory(env, tmp_path, ds)
    assert code == 0, stderr
    assert report["files"] == 3 and report["packets_read"] == 751, report
    assert f"{ds}/elsewhere: a symbolic link to a directory, not followed" in stderr, stderr
    assert f"{ds}/foreign.pcap: a symbolic link of uid 65534 to a file of uid 0, not followed" in stderr, stderr
    code, report, stderr = read_directory(env, tmp_path, ds / "elsewhere")  # named: the operator's choice
    assert code == 0 and report["files"] == 1, stderr


def test_a_link_loop_in_a_directory_is_skipped_and_the_run_goes_on(env, tmp_path):
    """Red team R16-6: ds/sub/loop -> .. ended the base's run (exit 1, `Too many levels of symbolic
    links [ds/sub/loop/sub/loop/...]`, no table)."""
    pieces = split_capture(CAPTURE, CUTS, tmp_path / "ds")
    (tmp_path / "ds" / "sub").mkdir()
    (tmp_path / "ds" / "sub" / "loop").symlink_to("..")
    code, report, stderr = read_directory(env, tmp_path, tmp_path / "ds")
    assert code == 0, stderr
    assert report["files"] == len(pieces) and report["packets_read"] == 751, report
    assert f"{tmp_path}/ds/sub/loop: a symbolic link to a directory, not followed" in stderr, stderr


def test_a_fifo_a_pattern_matches_is_skipped_and_the_run_goes_on(env, tmp_path, whole):
    """Red team R18-8: a directory's walk skips what is not a regular file, but a quoted pattern's
    match was read whatever it was, so a FIFO named like a capture in a data set (put there by a
    user who may write into it) held the base's root run in its open for good (killed here after
    30 s). Now such a match is skipped, said, and the rest is read."""
    split_capture(CAPTURE, CUTS, tmp_path / "parts")
    os.mkfifo(tmp_path / "parts" / "part1b.pcap")
    pattern = f"{tmp_path}/parts/part*.pcap"
    proc = subprocess.Popen([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", pattern, "--write-csv",
                             tmp_path / "dir.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the run waited in the open of the FIFO the pattern matched")
    assert proc.returncode == 0, err
    assert (json.loads(out.splitlines()[-1])["pcap"]["files"]) == 3, out
    assert f"--read-pcap {pattern}: {tmp_path}/parts/part1b.pcap: not a regular file, skipped" in err, err
    with open(tmp_path / "dir.csv") as f:
        assert Counter(tuple(row) for row in csv.reader(f)) == whole


def test_a_capture_under_a_second_name_is_read_once(env, tmp_path, whole):
    """Red team R16-8: inputs were told apart by path. A capture also present under a hard link
    (a de-duplicated snapshot of a data set) was read twice without a word (every packet counted
    twice); a symbolic link in a directory to a capture in it made the run fail ("given twice").
    Now a file is its device and inode: a second name met in a walk is skipped, said, and the
    table is the whole capture's; named twice on the command line, it is refused."""
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    os.link(parts[0], tmp_path / "parts" / "hard.pcap")
    (tmp_path / "parts" / "sym.pcap").symlink_to("part1.pcap")
    code, report, stderr = read_directory(env, tmp_path, tmp_path / "parts")
    assert code == 0, stderr
    assert (report["files"], report["packets_read"]) == (3, 751), report
    with open(tmp_path / "dir.csv") as f:
        assert Counter(tuple(row) for row in csv.reader(f)) == whole
    for name, first in (("part0.pcap", "hard.pcap"), ("sym.pcap", "part1.pcap")):
        assert f"{tmp_path}/parts/{name}: the same file as {tmp_path}/parts/{first}, skipped" in stderr, stderr
    assert "hard.pcap: given twice (the same file as" in failed(env, tmp_path, [parts[0], tmp_path / "parts" /
                                                                               "hard.pcap"])


def test_two_process_substitutions_are_two_inputs(env, tmp_path, whole):
    """Red team R16-8: `--read-pcap <(zcat a.gz) <(zcat b.gz)` was refused as "given twice": the
    canonical path of /dev/fd/N (a pipe) could not be found, and both were the same empty path."""
    parts = split_capture(CAPTURE, CUTS, tmp_path / "parts")
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    out = tmp_path / "substituted.csv"
    script = 'exec "$0" --config "$1" --write-csv "$2" --read-pcap <(cat "$3") <(cat "$4") <(cat "$5")'
    proc = subprocess.run(["bash", "-c", script, env.sniffer, config, out, *parts], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])["pcap"]
    assert (report["files"], report["packets_read"]) == (3, 751), report
    with open(out) as f:
        assert Counter(tuple(row) for row in csv.reader(f)) == whole


@pytest.mark.parametrize("closed", [">&-", "<&- >&- 2>&-"])
def test_a_run_started_with_standard_descriptors_closed_writes_its_table_and_succeeds(env, tmp_path, whole, closed):
    """Red team R16 (noticed): started with standard output closed (`--write-csv FILE >&-`), the
    run's first descriptor (an eventfd) took number 1 and the final report was written into it:
    EINVAL, exit 1 after a complete table (a file there would have received the report). Now
    /dev/null is opened onto each closed standard descriptor first: the report is discarded, exit 0."""
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    out = tmp_path / "closed.csv"
    script = f'exec "$0" --config "$1" --read-pcap "$2" --write-csv "$3" {closed}'
    proc = subprocess.run(["bash", "-c", script, env.sniffer, config, CAPTURE, out], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    with open(out) as f:
        assert Counter(tuple(row) for row in csv.reader(f)) == whole


def test_a_subdirectory_listed_but_not_searchable_stops_the_walk_with_the_reason(env):
    """A user's run over a data set with a subdirectory it may list but not search (mode 0444): its
    captures cannot be read, and that is said, with exit 1, rather than the walk going on without
    them in silence (round 18's walk by descriptors had skipped them without a word)."""
    base = Path(tempfile.mkdtemp(prefix="sniffer-e2e-walk-"))  # pytest's tmp_path is root's alone
    try:
        base.chmod(0o777)
        data = base / "ds"
        (data / "locked").mkdir(parents=True)
        shutil.copy(CAPTURE, data / "a.pcap")
        shutil.copy(CAPTURE, data / "locked" / "b.pcap")
        (data / "locked").chmod(0o444)
        proc = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", env.sniffer,
                               "-i", "wan0:wan:gateway", "--read-pcap", data, "--write-csv", base / "t.csv"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert f"--read-pcap {data}: Permission denied" in proc.stderr, proc.stderr
        assert not (base / "t.csv").exists()
    finally:
        (base / "ds" / "locked").chmod(0o755)
        shutil.rmtree(base)
