"""--write-csv through another user's link among the table's directories (red team R17-11).

Another user's symbolic link as the table's own name in a sticky, world-writable directory (/tmp)
was refused (round 16), but one used as a directory of the path was followed: with
/tmp/theirs -> a directory they chose, `--write-csv /tmp/theirs/flows.csv` wrote root's table
(and -j's parts) there. The kernel's fs.protected_symlinks refuses such a link wherever it is in a
path; the table's path is now checked the same way, whatever the sysctl says.
"""
import json
import os
import subprocess
import time

from corpus import REPO_PCAPS
from e2e_support import writing_into

FILES = [REPO_PCAPS / "web" / "http_bro_org.pcap", REPO_PCAPS / "dns" / "dnssec.pcap"]


def run(env, tmp_path, args):
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    return subprocess.run([env.sniffer, "--config", config, *args], capture_output=True, text=True, timeout=120)


def shared_with_a_link(tmp_path, owner):
    """tmp/shared (mode 1777, as /tmp) holding `theirs`, a link of `owner` to tmp/chosen."""
    shared, chosen = tmp_path / "shared", tmp_path / "chosen"
    shared.mkdir()
    shared.chmod(0o1777)
    chosen.mkdir()
    (shared / "theirs").symlink_to(chosen)
    os.lchown(shared / "theirs", owner, owner)
    return shared / "theirs", chosen


def test_another_users_link_as_a_directory_of_the_table_is_refused(env, tmp_path):
    link, chosen = shared_with_a_link(tmp_path, 65534)
    table = link / "flows.csv"
    for jobs in ([], ["-j", "2"]):
        done = run(env, tmp_path, ["--read-pcap", *FILES, *jobs, "--write-csv", table])
        assert done.returncode == 1, done.stderr
        assert f"--write-csv {table}: {link} is a symbolic link of another user (uid 65534) in a shared sticky " \
               "directory: not followed" in done.stderr, done.stderr
        assert list(chosen.iterdir()) == [], "written through the other user's link"


def test_a_link_of_ours_or_roots_as_a_directory_is_followed(env, tmp_path):
    link, chosen = shared_with_a_link(tmp_path, 0)
    done = run(env, tmp_path, ["--read-pcap", *FILES, "--write-csv", link / "flows.csv"])
    assert done.returncode == 0, done.stderr
    assert (chosen / "flows.csv").read_text().startswith("Flow ID,")
    # Another user's link in a directory that only root may write: followed, as the kernel does.
    private = tmp_path / "private"
    private.mkdir()
    (private / "theirs").symlink_to(chosen)
    os.lchown(private / "theirs", 65534, 65534)
    done = run(env, tmp_path, ["--read-pcap", *FILES, "-j", "2", "--write-csv", private / "theirs" / "j.csv"])
    assert done.returncode == 0, done.stderr
    assert (chosen / "j.csv").read_text().startswith("Flow ID,")


def test_a_directory_swapped_for_a_link_during_the_run_is_not_followed_at_commit(env, tmp_path):
    """R18-2: another user's real directory in a shared sticky directory passes the check; swapped for
    their link to a directory of their choice while the run reads its input, the base linked and
    renamed the table through the link at commit. Now the table is made in the directory opened."""
    shared, victim = tmp_path / "shared", tmp_path / "victim"
    shared.mkdir()
    shared.chmod(0o1777)
    victim.mkdir(mode=0o700)
    theirs = shared / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    config = tmp_path / "offline.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}]}))
    err = tmp_path / "stderr"
    with open(err, "w") as err_file:
        run = subprocess.Popen([env.sniffer, "--config", config, "--read-pcap", "-", "--write-csv",
                                theirs / "flows.csv"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        run.stdin.write(FILES[0].read_bytes())
        run.stdin.flush()
        deadline = time.monotonic() + 20
        while not writing_into(run.pid, theirs):
            assert run.poll() is None and time.monotonic() < deadline, "the table was not opened"
            time.sleep(0.05)
        # What the other user may do in a sticky directory with what is theirs.
        os.rename(theirs, shared / "theirs.old")
        theirs.symlink_to(victim)
        os.lchown(theirs, 65534, 65534)
        run.stdin.close()
        run.wait(timeout=120)
    finally:
        run.kill()
        run.wait()
    assert list(victim.iterdir()) == [], "the table went through the link put there meanwhile"
    assert run.returncode == 0, err.read_text()
    assert (shared / "theirs.old" / "flows.csv").read_text().startswith("Flow ID,")
