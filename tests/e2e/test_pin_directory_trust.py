"""Red team R18-14: a bpffs mounted without mode= (1777) lets any user place a name at a sensor's
pin path. A link of another user there made the root sensor fail with a bare ENOENT (dangling), or
sent its pins into the directory it named, whose pins were replaced as stale and removed at exit.
Now the pin directory is opened once and checked: a link, directory or file of another user at the
pin path refuses the start with a message naming it, and the pins go through the opened directory.

The daemons run with `nsenter --net` in the host's mount namespace, on its bpffs."""
import json
import os
import secrets
import subprocess
import time

import pytest

from e2e_support import lab_config, run
from test_single_instance import HostDaemon, ensure_bpffs, lock_file, pinned_map_ids, sensors  # noqa: F401 (fixture)

NOBODY = 65534


def own_pin_path():
    return f"/sys/fs/bpf/pins18-{secrets.token_hex(3)}"


def nobodys_link(target, link):
    """A symbolic link of uid 65534 (as a local user makes one in a 1777 bpffs)."""
    os.symlink(target, link)
    os.lchown(link, NOBODY, NOBODY)


def fake_pin(directory, name):
    """A pinned map of no sensor's: what the other directory holds."""
    path = f"{directory}/{name}"
    run(["bpftool", "map", "create", path, "type", "array", "key", "4", "value", "4", "entries", "1",
         "name", "pins18_fake"])
    return json.loads(run(["bpftool", "-j", "map", "show", "pinned", path]).stdout)["id"]


def start_refused(env, lab, tmp_path, pin_path):
    config = lab_config(f"ipc://{tmp_path}/pub.sock", pin_path=pin_path, metrics={"listen": ""})
    return HostDaemon(env, lab, tmp_path, config, "sensor").run_to_exit()


def remove_tree(directory):
    if os.path.isdir(directory) and not os.path.islink(directory):
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


def assert_refused_leaving_alone(code, err, expected, other, fake_id):
    """The start was refused with `expected`, and the other directory's pin is as it was."""
    assert code == 1, err
    assert expected in err, err
    assert "stale" not in err, err
    assert pinned_map_ids(other) == {"stats": fake_id}, "the other directory's pins changed"


def remove_link_and_tree(link, directory):
    if os.path.islink(link):
        os.unlink(link)
    remove_tree(directory)


def test_a_dangling_link_of_another_user_is_named_in_the_refusal(env, lab, tmp_path):
    ensure_bpffs()
    link = own_pin_path()
    nobodys_link(f"{link}-nowhere/x", link)
    try:
        code, err = start_refused(env, lab, tmp_path, link)
        assert code == 1, err
        assert (f"pin_path {link}: a symbolic link of uid {NOBODY} (to {link}-nowhere/x): remove it; "
                "the pin directory must be the sensor's own") in err, err
        assert os.path.islink(link), "the other user's link was changed"
    finally:
        os.unlink(link)


def test_a_link_of_another_user_to_another_directory_leaves_it_untouched(env, lab, tmp_path):
    ensure_bpffs()
    link, other = own_pin_path(), own_pin_path()
    os.mkdir(other, 0o700)  # root's: another sensor's, or anything pinned there
    try:
        fake_id = fake_pin(other, "stats")
        nobodys_link(other, link)
        code, err = start_refused(env, lab, tmp_path, link)
        assert_refused_leaving_alone(code, err, f"pin_path {link}: a symbolic link of uid {NOBODY} (to {other})",
                                     other, fake_id)
    finally:
        remove_link_and_tree(link, other)


def test_a_link_of_another_user_on_the_way_is_refused(env, lab, tmp_path):
    """The pin path below a directory reached through another user's link: that user may re-point it."""
    ensure_bpffs()
    link, other = own_pin_path(), own_pin_path()
    os.mkdir(other, 0o700)
    try:
        fake_id = fake_pin(other, "stats")
        nobodys_link(other, link)
        code, err = start_refused(env, lab, tmp_path, f"{link}/sensor")
        assert_refused_leaving_alone(code, err, f'pin_path {link}/sensor: the link "{link}" on its way is owned by '
                                     f"uid {NOBODY}, who could re-point it: the pin directory must be the sensor's "
                                     "own", other, fake_id)
    finally:
        if os.path.isdir(f"{other}/sensor"):
            remove_tree(f"{other}/sensor")
        remove_link_and_tree(link, other)


def link_once_locked(env, lab, tmp_path, pin_path, target, owner):
    """Starts a sensor on `pin_path` (not there yet), and as soon as its instance lock file appears
    (its programs still loading, no pin made), links `pin_path` to `target` as `owner` -> (exit code,
    stderr)."""
    config = lab_config(f"ipc://{tmp_path}/pub.sock", pin_path=pin_path, metrics={"listen": ""})
    daemon = HostDaemon(env, lab, tmp_path, config, "sensor")
    with open(daemon.out_path, "wb") as out, open(daemon.err_path, "wb") as err:
        daemon.proc = subprocess.Popen(daemon.cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(lock_file(pin_path)) and time.monotonic() < deadline:
            time.sleep(0.0005)
        os.symlink(target, pin_path)
        os.lchown(pin_path, owner, owner)
        daemon.proc.wait(15)
    finally:
        daemon.stop()
    return daemon.proc.returncode, daemon.stderr()


@pytest.mark.parametrize("owner", [NOBODY, 0], ids=["another-user", "root"])
def test_a_link_made_after_the_lock_sends_no_pin_into_another_directory(env, lab, tmp_path, owner):
    """The red team's race: the lock is named after the path as it was; a link made just after it
    sent the pins into another (live) sensor's directory. Another user's link is refused as such;
    even root's is, for it is not the directory the lock was named after."""
    ensure_bpffs()
    pin_path, other = own_pin_path(), own_pin_path()
    os.mkdir(other, 0o700)
    try:
        fake_id = fake_pin(other, "stats")
        code, err = link_once_locked(env, lab, tmp_path, pin_path, other, owner)
        why = (f"a symbolic link of uid {NOBODY} (to {other})" if owner else
               f"leads to {other} now, not to {pin_path}, which its instance lock is named after")
        assert_refused_leaving_alone(code, err, f"pin_path {pin_path}: {why}", other, fake_id)
    finally:
        remove_link_and_tree(pin_path, other)


def test_a_directory_of_another_user_at_the_pin_path_is_refused(env, lab, tmp_path):
    ensure_bpffs()
    pin_path = own_pin_path()
    os.mkdir(pin_path, 0o777)
    os.chown(pin_path, NOBODY, NOBODY)  # made by a local user before the sensor's first start
    try:
        code, err = start_refused(env, lab, tmp_path, pin_path)
        assert code == 1, err
        assert (f"pin_path {pin_path}: a directory of uid {NOBODY}: remove it; "
                "the pin directory must be the sensor's own") in err, err
        assert os.listdir(pin_path) == [], "pins went into the other user's directory"
    finally:
        remove_tree(pin_path)


def test_own_pin_directory_is_pinned_and_removed_at_exit(env, lab, tmp_path, sensors):  # noqa: F811
    """The descriptor-relative pins are the usual ones: listed under the pin path, gone at exit."""
    ensure_bpffs()
    pin_path = own_pin_path()
    config = lab_config(f"ipc://{tmp_path}/pub.sock", pin_path=pin_path, metrics={"listen": ""})
    daemon = HostDaemon(env, lab, tmp_path, config, "sensor").start()
    sensors.append(daemon)
    try:
        ids = pinned_map_ids(pin_path)
        assert "stats" in ids and "block_settings" in ids, ids
        assert f"maps pinned under {pin_path}" in daemon.stderr(), daemon.stderr()
        warnings = [line for line in daemon.stderr().splitlines() if "lets every user place names" in line]
        world_writable = os.stat("/sys/fs/bpf").st_mode & 0o002
        assert len(warnings) == (1 if world_writable else 0), daemon.stderr()
        assert daemon.stop() == 0, daemon.stderr()
        assert not os.path.exists(pin_path), "the pin directory outlived the sensor"
    finally:
        daemon.stop()
        remove_tree(pin_path)
