"""A run held by the kernel when it reads a directory's entries, so that a test acts at a known
point of a directory's walk: fanotify's permission events (FAN_ACCESS_PERM with FAN_ONDIR: each
getdents64 on the directory waits until the test answers). A directory's listing ends with a
getdents64 that finds no more entries: held there, the walk has judged every entry, and nothing
after it has looked at them again (red team R18-8's window, made as wide as the test wants).
"""
import ctypes
import os
import select
import struct
import threading
from contextlib import contextmanager

from e2e_support import unavailable

FAN_CLOEXEC = 0x1
FAN_CLASS_CONTENT = 0x4
FAN_MARK_ADD = 0x1
FAN_ACCESS_PERM = 0x20000
FAN_ONDIR = 0x40000000
FAN_ALLOW = 0x1
AT_FDCWD = -100
EVENT = struct.Struct("IBBHQii")  # struct fanotify_event_metadata

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]


def _watch(directory):
    fd = _libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
    if fd < 0:
        unavailable(f"fanotify_init: {os.strerror(ctypes.get_errno())} (needs CAP_SYS_ADMIN)")
    if _libc.fanotify_mark(fd, FAN_MARK_ADD, FAN_ACCESS_PERM | FAN_ONDIR, AT_FDCWD, os.fsencode(directory)) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        unavailable(f"fanotify_mark {directory}: {os.strerror(err)}")
    return fd


def _answer_reads(fd, act, at_read, done, stop, failures):
    """Allows every read of the directory; calls act() before allowing read number `at_read` (what
    it raises is kept in `failures`: the read is allowed all the same, nothing stays held)."""
    reads = 0
    while not stop.is_set():
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        buf = os.read(fd, 4096)
        off = 0
        while off < len(buf):
            event_len, _, _, _, _, event_fd, _ = EVENT.unpack_from(buf, off)
            off += event_len
            reads += 1
            if reads == at_read:
                try:
                    act()
                except Exception as e:  # raised again by acting_at_read, once nothing is held
                    failures.append(e)
                done.set()
            os.write(fd, struct.pack("iI", event_fd, FAN_ALLOW))
            os.close(event_fd)


@contextmanager
def acting_at_read(directory, act, at_read=2):
    """While in the block, the `at_read`-th read of `directory`'s entries by anyone (2: the end of
    a small directory's first listing) waits until act() has run. Yields an Event set once it has.
    Nothing of the test itself may list `directory` meanwhile."""
    fd = _watch(directory)
    done, stop, failures = threading.Event(), threading.Event(), []
    listener = threading.Thread(target=_answer_reads, args=(fd, act, at_read, done, stop, failures), daemon=True)
    listener.start()
    try:
        yield done
    finally:
        stop.set()
        listener.join(timeout=10)
        os.close(fd)  # reads still pending are allowed: nothing stays held
    if failures:
        raise failures[0]
