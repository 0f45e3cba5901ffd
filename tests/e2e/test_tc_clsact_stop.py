"""The clsact qdisc the sensor created, at its stop (the clsact path: tc_attach "clsact", what
"auto" picks before Linux 6.6).

The sensor deleted that qdisc when a netlink dump found no filter left on it. tc has no
delete-if-empty: RTM_DELQDISC destroys the qdisc with every filter on it, and another tool may add
one between the dump and the delete (red team, round 13). The sensor now leaves the qdisc, as tc,
Cilium, DataDog's ebpf-manager and Elastic's ebpf do, and says so. The test puts the other tool's
filter exactly into that window: an LD_PRELOAD library runs `tc filter add` when the daemon is
about to send an RTM_DELQDISC; a daemon that sends none has the filter added after its exit."""
import json
import shlex
import subprocess

from e2e_support import Daemon

PRELOAD = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/socket.h>

static void before(const void *buf, size_t len) {
  static int done;
  const struct nlmsghdr *nh = buf;
  if (!done && len >= sizeof *nh && nh->nlmsg_type == RTM_DELQDISC && getenv("BEFORE_DELQDISC")) {
    done = 1;
    if (system(getenv("BEFORE_DELQDISC")) != 0) abort();
  }
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  static ssize_t (*next)(int, const void *, size_t, int);
  if (!next) next = dlsym(RTLD_NEXT, "send");
  before(buf, len);
  return next(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) {
  static ssize_t (*next)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
  if (!next) next = dlsym(RTLD_NEXT, "sendto");
  before(buf, len);
  return next(fd, buf, len, flags, to, tolen);
}
"""

OTHER_TOOL = ["tc", "filter", "add", "dev", "wan0", "egress", "prio", "7", "bpf", "bytecode", "1,6 0 0 0,"]


def egress_filters(lab):
    return json.loads(lab.exec(lab.gw, ["tc", "-j", "filter", "show", "dev", "wan0", "egress"]).stdout or "[]")


def test_a_filter_another_tool_adds_while_the_sensor_stops_is_kept(lab, start_daemon, tmp_path, monkeypatch):
    source = tmp_path / "before_delqdisc.c"
    source.write_text(PRELOAD)
    library = tmp_path / "before_delqdisc.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"], check=True)
    added = tmp_path / "added-before-delqdisc"
    command = f"env -u LD_PRELOAD {shlex.join(OTHER_TOOL)} && touch {added}"
    plain = Daemon.command
    monkeypatch.setattr(Daemon, "command", lambda self: ["env", f"LD_PRELOAD={library}", f"BEFORE_DELQDISC={command}",
                                                         *plain(self)])
    daemon = start_daemon(capture={"tc_attach": "clsact"},
                          interfaces=[{"name": "wan0", "role": "wan", "mode": "host-based", "hooks": ["tc_egress"]}])
    assert "tc egress (clsact filter, qdisc created by sniffer)" in daemon.stderr(), daemon.stderr()
    daemon.stop()
    if not added.exists():  # no RTM_DELQDISC: the other tool's filter comes right after the stop
        lab.exec(lab.gw, OTHER_TOOL)
    filters = egress_filters(lab)
    assert any(f.get("pref") == 7 and f.get("options", {}).get("handle") for f in filters), \
        f"the other tool's filter (added just before the RTM_DELQDISC: {added.exists()}) went with the qdisc: " \
        f"{filters}\n{daemon.stderr()[-2000:]}"
    assert not any("sniffer" in json.dumps(f) for f in filters), f"the sensor left its filter: {filters}"
    assert "wan0: left the clsact qdisc sniffer created in place" in daemon.stderr(), daemon.stderr()
