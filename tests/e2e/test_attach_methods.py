"""The clsact fallback (kernels without tcx) and switching outputs off: the daemon attaches
a cls_bpf filter on a clsact qdisc it creates, sees egress traffic through it, and removes
exactly what it created."""
import json
import time

from e2e_support import Addr


def tc_state(lab, dev):
    qdiscs = json.loads(lab.exec(lab.gw, ["tc", "-j", "qdisc", "show", "dev", dev]).stdout or "[]")
    filters = json.loads(lab.exec(lab.gw, ["tc", "-j", "filter", "show", "dev", dev, "egress"]).stdout or "[]")
    return [q["kind"] for q in qdiscs], filters


def test_clsact_fallback_attaches_counts_and_cleans_up(lab, start_daemon, subscribe):
    assert "clsact" not in tc_state(lab, "wan0")[0]
    daemon = start_daemon(capture={"tc_attach": "clsact"}, flows={"enabled": False})
    assert "tc egress (clsact filter, qdisc created by sniffer)" in daemon.stderr(), daemon.stderr()
    kinds, filters = tc_state(lab, "wan0")
    assert "clsact" in kinds and any("bpf" in json.dumps(f) for f in filters), (kinds, filters)
    sub = subscribe(daemon.endpoint)
    time.sleep(0.5)
    lab.ping(lab.wan, Addr.WAN4_GW, count=3)  # replies leave wan0: seen at tc egress
    time.sleep(0.3)
    report = daemon.stop()
    sub.stop()
    replies = [e for e in sub.events if e.hook == 3 and e.icmp_type == 0]
    assert len(replies) == 3, [(e.hook, e.icmp_type) for e in sub.events]
    assert "flows" not in report["userspace"]  # flows.enabled false: no table, no flow topic
    kinds, filters = tc_state(lab, "wan0")
    assert "clsact" not in kinds, "the qdisc sniffer created is still there"


def test_clsact_qdisc_of_someone_else_is_left_in_place(lab, start_daemon):
    lab.exec(lab.gw, ["tc", "qdisc", "add", "dev", "wan0", "clsact"])
    daemon = start_daemon(capture={"tc_attach": "clsact"})
    assert "tc egress (clsact filter)" in daemon.stderr(), daemon.stderr()
    daemon.stop()
    kinds, filters = tc_state(lab, "wan0")
    assert "clsact" in kinds, "sniffer removed a qdisc it did not create"
    assert not filters, f"sniffer left its filter: {filters}"
