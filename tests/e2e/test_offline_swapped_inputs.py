"""A capture of a data set swapped for a symbolic link while root converts it: --read-pcap lists
its inputs first (a directory's walk follows no other user's link) and opened them by name later
(the merge's first open, its reopens, a -j worker's own listing of its file), so a user who may
write into the data set could put a link to a capture it cannot read in a listed file's place
meanwhile, and get that capture's flows into the table. Now every open must find the very file
listed (device and inode): else an error naming it, nothing of the other file read.

The swap is made while the run is held at a known point: behind a FIFO named first (the run
blocks reading it, after the listing), with strace delaying the -j parent once it has listed
the files (its parts directory's mkdir, before the workers are forked), or by fanotify at the
end of a directory's walk (directory_hold.py: every entry judged, none identified again yet).
"""
import csv
import json
import os
import shutil
import subprocess
import time

import pytest

from corpus import REPO_PCAPS
from directory_hold import acting_at_read
from test_offline_inputs import CAPTURE, CUTS, records, split_capture

SECRET = REPO_PCAPS / "dns" / "dnssec.pcap"  # 127.0.0.1 to port 53: no flow of CAPTURE's
SWAPPED = "part1.pcap"


def flow_ids(path):
    with open(path) as f:
        return {row[0] for row in list(csv.reader(f))[1:]}


def table(path):
    with open(path) as f:
        return sorted(tuple(row) for row in csv.reader(f))


def data_set(tmp_path):
    """(ds, the secret): ds holds CAPTURE's pieces 1 and 2 (piece 0, the earliest, is fed through
    a FIFO); private/secret.pcap, root's 0600 file in a 0700 directory, is another capture."""
    pieces = split_capture(CAPTURE, CUTS, tmp_path / "pieces")
    ds = tmp_path / "ds"
    ds.mkdir()
    for piece in pieces[1:]:
        shutil.copyfile(piece, ds / piece.name)
    (tmp_path / "private").mkdir(mode=0o700)
    secret = tmp_path / "private" / "secret.pcap"
    shutil.copyfile(SECRET, secret)
    secret.chmod(0o600)
    return ds, secret


def swap_for_link(file, secret):
    """What the data set's writer (uid 65534) does: its listed file replaced by its link."""
    file.unlink()
    file.symlink_to(secret)
    os.lchown(file, 65534, 65534)


def held_on_fifo(env, tmp_path, ds):
    """A run on [FIFO, ds] and the FIFO's write end, once the run has opened it (the inputs are
    listed by then: the run is held there until the FIFO gives it a capture header)."""
    fifo = tmp_path / "feed.pcap"
    os.mkfifo(fifo)
    proc = subprocess.Popen([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", fifo, ds, "--write-csv",
                             tmp_path / "out.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until the run opens it
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=10)
            time.sleep(0.01)
    os.set_blocking(fd, True)
    return proc, fd


def blocked_reading(pid, fd_path):
    """Whether process `pid` (its main thread) waits in read(2) on the file `fd_path` names."""
    try:
        fields = (open(f"/proc/{pid}/syscall").read().split())
    except OSError:
        return False
    if fields[0] != "0":  # read(2) on x86-64
        return False
    return os.path.realpath(f"/proc/{pid}/fd/{int(fields[1], 16)}") == os.path.realpath(fd_path)


def test_a_file_swapped_for_a_link_before_it_is_opened_is_refused_naming_it(env, tmp_path):
    """The swap between the listing and the first open: the base read the secret capture (its
    flows in the table, exit 0); now the run stops naming the file, no table (as for a file that
    cannot be opened)."""
    ds, secret = data_set(tmp_path)
    proc, fd = held_on_fifo(env, tmp_path, ds)
    try:
        swap_for_link(ds / SWAPPED, secret)
        os.write(fd, (tmp_path / "pieces" / "part0.pcap").read_bytes())
    finally:
        os.close(fd)
    out, err = proc.communicate(timeout=120)
    out_csv = tmp_path / "out.csv"
    leaked = flow_ids(out_csv) & flow_ids_of_secret(env, tmp_path) if out_csv.exists() else set()
    assert not leaked, f"the secret capture's flows were read: {sorted(leaked)}"
    assert proc.returncode == 1, err
    assert f"{ds}/{SWAPPED}: replaced by another file since the inputs were listed; not read" in err, err
    assert not out_csv.exists()


def test_a_file_swapped_for_a_link_before_the_merge_reopens_it_is_a_read_error(env, tmp_path):
    """The swap once the merge has read the file's first packet and closed it (until it reaches
    that time): the base read the secret capture in its place; now a read error names the file,
    exit 1, and the table is that of the other files."""
    ds, secret = data_set(tmp_path)
    header, recs = records(tmp_path / "pieces" / "part0.pcap")
    proc, fd = held_on_fifo(env, tmp_path, ds)
    try:
        os.write(fd, header + recs[0][1])  # one write: the run reads it at once, then waits for more
        deadline = time.monotonic() + 30
        while not blocked_reading(proc.pid, tmp_path / "feed.pcap"):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never waited for the FIFO"
            time.sleep(0.01)
        swap_for_link(ds / SWAPPED, secret)
        os.write(fd, b"".join(r for _, r in recs[1:]))
    finally:
        os.close(fd)
    out, err = proc.communicate(timeout=120)
    leaked = flow_ids(tmp_path / "out.csv") & flow_ids_of_secret(env, tmp_path)
    assert not leaked, f"the secret capture's flows were read: {sorted(leaked)}"
    assert proc.returncode == 1, err
    report = json.loads(out.splitlines()[-1])["pcap"]
    assert report["read_error"] == (f"{ds}/{SWAPPED}: --read-pcap {ds}/{SWAPPED}: replaced by another file since "
                                    "the inputs were listed; not read"), report
    # The table of the files left: piece 0 and piece 2.
    reference = tmp_path / "reference.csv"
    subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", tmp_path / "pieces" / "part0.pcap",
                    ds / "part2.pcap", "--write-csv", reference], check=True, capture_output=True, timeout=120)
    assert table(tmp_path / "out.csv") == table(reference)


def test_a_file_swapped_for_a_link_before_a_worker_opens_it_is_refused_naming_it(env, tmp_path):
    """-j 2: a worker listed its file's name again (links followed), so a swap after the parent's
    listing made the base read the secret capture (exit 0, its flows in the table). Now a worker
    opens the file its parent listed: the run fails naming it, no table. strace holds the parent
    after its parts directory's mkdir (the files listed, no worker forked yet)."""
    if shutil.which("strace") is None:
        pytest.skip("strace not found (scripts/install-deps.sh installs it)")
    ds, secret = data_set(tmp_path)
    shutil.copyfile(tmp_path / "pieces" / "part0.pcap", ds / "part0.pcap")
    out = tmp_path / "out"
    out.mkdir()
    held = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-e", "inject=mkdir,mkdirat:delay_exit=3000000",
                             env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", ds, "-j", "2", "--write-csv",
                             out / "t.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not list(out.glob(".t.csv.parts*")):
            assert held.poll() is None and time.monotonic() < deadline, "the held run made no parts directory"
            time.sleep(0.01)
        swap_for_link(ds / SWAPPED, secret)
        _, err = held.communicate(timeout=120)
    finally:
        held.kill()
        held.wait()
    leaked = flow_ids(out / "t.csv") & flow_ids_of_secret(env, tmp_path) if (out / "t.csv").exists() else set()
    assert not leaked, f"the secret capture's flows were read: {sorted(leaked)}"
    assert held.returncode == 1, err
    assert f"{ds}/{SWAPPED}: replaced by another file since the inputs were listed; not read" in err, err
    assert not (out / "t.csv").exists()


def walked_while_swapped(env, tmp_path, ds, swap):
    """(exit code, or None when the run still waited after 30 s and was killed; stderr) of a run on
    directory ds whose walk, once it has judged every entry, waits until swap() has run."""
    with acting_at_read(ds, swap) as swapped:
        proc = subprocess.Popen([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", ds, "--write-csv",
                                 tmp_path / "out.csv"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=30)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            code = None
    assert swapped.is_set(), "the walk's end was never held"
    return code, err


def test_a_walked_file_swapped_for_a_fifo_after_the_walk_is_refused_without_waiting(env, tmp_path):
    """Red team R18-8: the walk judged a file regular by one lookup by name and took what it is by
    another, so a FIFO renamed over it in between was the file listed, and the base's run (root)
    waited in its open forever (killed here after 30 s). Now the walk takes what a file is from
    the very lookup that judged it: the FIFO is not that file, the run stops naming it."""
    ds, _ = data_set(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, err = walked_while_swapped(env, tmp_path, ds, lambda: os.rename(fifo, ds / SWAPPED))
    assert code is not None, f"the run waited for the FIFO swapped in after the walk: {err}"
    assert code == 1, err
    assert f"{ds}/{SWAPPED}: replaced by another file since the inputs were listed; not read" in err, err
    assert not (tmp_path / "out.csv").exists()


def test_a_walked_file_swapped_for_a_foreign_link_after_the_walk_is_refused(env, tmp_path):
    """Red team R18-8: the walk refuses another user's link to a capture not theirs (R16-6), but
    such a link put in a judged file's place before the file was identified was read: the base
    read root's private capture (exit 0, its flows in the table). Now it is refused, naming it."""
    ds, secret = data_set(tmp_path)
    code, err = walked_while_swapped(env, tmp_path, ds, lambda: swap_for_link(ds / SWAPPED, secret))
    out_csv = tmp_path / "out.csv"
    leaked = flow_ids(out_csv) & flow_ids_of_secret(env, tmp_path) if out_csv.exists() else set()
    assert not leaked, f"the secret capture's flows were read: {sorted(leaked)}"
    assert code == 1, err
    assert f"{ds}/{SWAPPED}: replaced by another file since the inputs were listed; not read" in err, err
    assert not out_csv.exists()


def flow_ids_of_secret(env, tmp_path):
    path = tmp_path / "secret-alone.csv"
    subprocess.run([env.sniffer, "-i", "wan0:wan:gateway", "--read-pcap", SECRET, "--write-csv", path], check=True,
                   capture_output=True, timeout=120)
    ids = flow_ids(path)
    assert ids
    return ids
