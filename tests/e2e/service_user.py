"""The daemon run as systemd runs config/sniffer.service, without systemd: as an unprivileged
user with only the unit's capabilities (setpriv), in a mount namespace of its own (that of
`ip netns exec`) where, as under systemd, bpffs is mounted with mode 0700 and the pin directory
and /run/sniffer belong to the user (the unit's ExecStartPre= and RuntimeDirectory=); /proc shows
only processes, the user's own (ProcSubset=pid, ProtectProc=invisible). The host's /sys/fs/bpf
and /run are not touched."""
import os
import re
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path

from e2e_support import run

PIN_DIR = "/sys/fs/bpf/sniffer"  # the unit's ExecStartPre=, the default pin_path

# sh -c PREPARE service USER CAPS COMMAND...: run in the namespace, as root, before the exec.
PREPARE = f"""set -e
user=$1 caps=$2
shift 2
mount -t proc -o subset=pid,hidepid=invisible proc /proc
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t tmpfs -o mode=0755 tmpfs /run
install -d -o "$user" -g "$user" -m 0755 /run/sniffer
install -d -o "$user" -g "$user" -m 0700 {PIN_DIR}
exec setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps="$caps" --ambient-caps="$caps" \\
  --bounding-set="$caps" -- "$@"
"""


# sh -c SERVICE_BESIDE_ROOT service USER CAPS COMMAND...: as PREPARE, but the bpffs and /run/sniffer
# are mounted in the namespace of this shell, where /proc stays whole (a root shell's view of the
# host), and the service runs in a mount namespace of its own below it, sharing them, with /proc as
# the unit shows it. Prints "service PID" (the daemon's), then waits for it: `nsenter --target` this
# shell's pid `--mount` is the host a root start runs on beside the service.
SERVICE_BESIDE_ROOT = f"""set -e
user=$1 caps=$2
shift 2
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t tmpfs -o mode=0755 tmpfs /run
install -d -o "$user" -g "$user" -m 0755 /run/sniffer
install -d -o "$user" -g "$user" -m 0700 {PIN_DIR}
unshare --mount sh -c 'user=$1 caps=$2
shift 2
mount -t proc -o subset=pid,hidepid=invisible proc /proc
exec setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps="$caps" --ambient-caps="$caps" \\
  --bounding-set="$caps" -- "$@"' service "$user" "$caps" "$@" &
echo "service $!"
wait "$!"
"""


def unit_capabilities(unit_text):
    """The unit's CapabilityBoundingSet=, as setpriv names them: ["bpf", "net_admin", ...]."""
    caps = re.search(r"^CapabilityBoundingSet=(.+)$", unit_text, re.M).group(1).split()
    return [c.removeprefix("CAP_").lower() for c in caps]


def service_command(user, caps, command, as_root_first=""):
    """The command line (for Lab.exec or Lab.popen) that runs `command` as the service would;
    `as_root_first`: shell lines run as root in its namespace just before (what an earlier run left)."""
    spec = ",".join(["-all"] + [f"+{c}" for c in caps])
    prepare = PREPARE.replace("exec setpriv", f"{as_root_first}\nexec setpriv", 1)
    return ["sh", "-c", prepare, "service", user, spec, *map(str, command)]


def service_beside_root_command(user, caps, command):
    """The command line (for Lab.popen) that runs `command` as the service would, beside a host
    where root may start another (SERVICE_BESIDE_ROOT)."""
    spec = ",".join(["-all"] + [f"+{c}" for c in caps])
    return ["sh", "-c", SERVICE_BESIDE_ROOT, "service", user, spec, *map(str, command)]


@contextmanager
def temporary_user():
    """A system user and group of a random name, deleted afterwards."""
    name = "snf" + secrets.token_hex(3)
    run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", name])
    try:
        yield name
    finally:
        run(["userdel", name], check=False)


@contextmanager
def user_directory(user):
    """A fresh directory under /tmp that `user` owns (configs, ipc sockets), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="snf-svc-", dir="/tmp"))
    try:
        os.chmod(path, 0o755)
        os.chown(path, *user_ids(user))
        yield path
    finally:
        run(["rm", "-rf", str(path)], check=False)


def user_ids(user):
    out = run(["id", "-u", user]).stdout.strip(), run(["id", "-g", user]).stdout.strip()
    return int(out[0]), int(out[1])
