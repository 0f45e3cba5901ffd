"""Kernel drop reasons (issue 18): the gateway's kernel drops traffic from the WAN peer in three
ways (an nftables drop rule, no route to the destination, a reverse-path filter failure); the
daemon counts each way's packets by the reason the kernel gives, on the interface they came
in on, in the final report and in the Prometheus counter sniffer_kernel_drops_total; and the flow
record of each of those flows carries its dropped packets (fwd.kernel_dropped), in either flow
aggregation."""
import ipaddress
import shutil
import sys
import time

import pytest

from e2e_support import run, scrape_until, unavailable, wait_log

METRICS_PORT = 9762
PACKETS = 25
LAN_PEER = "192.0.2.10"
NO_ROUTE = "203.0.113.5"    # TEST-NET-3: the gateway has no route to it
SPOOFED_LAN = "192.0.2.77"  # a LAN source arriving on wan0: rp_filter=1 drops it
WAN_PEER = "198.51.100.10"
OTHER_NETNS_PORT = 40009    # forwarded, then dropped by the LAN peer (NO_SOCKET): not the sensor's

# dport -> (source, destination, the reason this kernel gives)
WAYS = {
    40001: (WAN_PEER, LAN_PEER, "NETFILTER_DROP"),
    40002: (WAN_PEER, NO_ROUTE, "IP_INNOROUTES"),
    40003: (SPOOFED_LAN, LAN_PEER, "IP_RPFILTER"),
}

# `python3 -c SEND SRC DST DPORT COUNT`: COUNT 16-byte UDP datagrams from SRC.
SEND = """
import socket, sys
src, dst, dport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
for _ in range(count):
    s.sendto(b'd' * 16, (dst, dport))
"""


def make_gateway_drop(lab):
    """The three ways, in the gateway's namespace (and the spoofed source on the WAN peer)."""
    if shutil.which("nft") is None:
        unavailable("'nft' not found in PATH (install nftables)")
    nft = ["nft", "-f", "-"]
    rules = ("table inet sniffer_e2e {\n chain forward_drop {\n  type filter hook forward priority 0;\n"
             "  udp dport 40001 drop\n }\n}\n")
    run(["ip", "netns", "exec", lab.gw, *nft], input=rules)
    lab.exec(lab.gw, ["sysctl", "-qw", "net.ipv4.conf.wan0.rp_filter=1"])
    lab.exec(lab.wan, ["ip", "addr", "add", f"{SPOOFED_LAN}/32", "dev", "eth0"])


def send_ways(lab):
    for dport, (src, dst, _) in WAYS.items():
        lab.exec(lab.wan, [sys.executable, "-c", SEND, src, dst, dport, PACKETS])


@pytest.mark.parametrize("aggregation", ["userspace", "kernel"])
def test_gateway_drops_counted_by_reason(lab, start_daemon, subscribe, aggregation):
    """In either aggregation the flow records carry the drops: the userspace table counts the
    drop records on its flows; under kernel aggregation the daemon keeps them beside the kernel's
    flow entries (a tracing program cannot use that map) and puts them on the flow's record."""
    make_gateway_drop(lab)
    daemon = start_daemon(metrics={"listen": f"127.0.0.1:{METRICS_PORT}"},
                          flows={"aggregation": aggregation, "packet_sample_one_in": 0})
    assert wait_log(daemon, "kernel drops: counting"), daemon.stderr()
    flows = subscribe(daemon.endpoint, topic=b"flow")
    time.sleep(0.5)  # the subscription reaches the daemon before its first flow record
    # First a drop in another namespace (the LAN peer has no socket on the port): the program
    # remembers that namespace as not the sensor's, and must still count the gateway's own after.
    lab.exec(lab.wan, [sys.executable, "-c", SEND, WAN_PEER, LAN_PEER, OTHER_NETNS_PORT, PACKETS])
    send_ways(lab)

    names = [f'sniffer_kernel_drops_total{{interface="wan0",reason="{reason}",protocol="udp"}}'
             for _, _, reason in WAYS.values()]
    samples = scrape_until(lab, METRICS_PORT, lambda s: all(name in s for name in names))
    for name in names:
        assert samples.get(name) == PACKETS, f"{name}: {samples.get(name)}\n" + "\n".join(
            k for k in samples if k.startswith("sniffer_kernel_drops_total"))
    assert samples['sniffer_dropped_total{stage="kernel_drops",reason="map_full"}'] == 0

    report = daemon.stop()
    wan0 = report["kernel"]["drops"]["interfaces"]["wan0"]
    for _, _, reason in WAYS.values():
        assert wan0[reason] == {"tcp": 0, "udp": PACKETS, "icmp": 0, "other": 0}, wan0
    # The rejected packets never left on lan0: nothing of theirs was dropped there.
    lan0 = report["kernel"]["drops"]["interfaces"].get("lan0", {})
    assert not any(reason in lan0 for _, _, reason in WAYS.values()), lan0
    # The LAN peer's drops happened in its own namespace, on none of the sensor's interfaces.
    assert not any("NO_SOCKET" in by_reason for by_reason in report["kernel"]["drops"]["interfaces"].values()), \
        report["kernel"]["drops"]["interfaces"]
    assert report["kernel"]["drops"]["unattributed"] == {"map_full": 0, "interface_gone": 0,
                                                          "tracepoint_missed": 0, "record_ring_full": 0}
    # Per flow: each way's one flow (the WAN peer's socket, one source port) carries its drops.
    flows.stop()
    records = flows.snapshot()
    for dport, (src, dst, reason) in WAYS.items():
        mine = [r for r in records if r.dst_port == dport and r.l4_protocol == 17]
        assert len(mine) == 1, f"{reason}: {mine}"
        r = mine[0]
        assert (ipaddress.ip_address(r.src_addr), ipaddress.ip_address(r.dst_addr)) == \
            (ipaddress.ip_address(src), ipaddress.ip_address(dst))
        assert (r.fwd.packets, r.fwd.kernel_dropped, r.bwd.kernel_dropped) == (PACKETS, PACKETS, 0), f"{reason}: {r}"
    other = [r for r in records if r.dst_port == OTHER_NETNS_PORT and r.l4_protocol == 17]
    assert len(other) == 1 and (other[0].fwd.packets, other[0].fwd.kernel_dropped) == (PACKETS, 0), other
    # Every drop on its flow, a stray one too: the MLD report (IPv6, hop-by-hop header) the LAN peer
    # may send after the XDP attach, which the gateway drops on lan0 (test_ipv6_extension_header_...).
    assert report["userspace"]["flows"]["kernel_drops_no_flow"] == 0, report["kernel"]["drops"]
    assert report["userspace"]["flows"]["kernel_drops"] >= 3 * PACKETS


# `python3 -c SEND6_DSTOPTS SRC DST DPORT COUNT`: COUNT UDP datagrams over IPv6 with a
# destination options header (PadN) between the IPv6 and the UDP header.
SEND6_DSTOPTS = """
import socket, sys
src, dst, dport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
s.bind((src, 0))
for _ in range(count):
    s.sendto(b'd' * 16, (dst, dport))
"""


def test_ipv6_extension_header_drop_counted_on_its_flow(lab, start_daemon, subscribe):
    """The nftables rule drops UDP port 40001 over IPv6 too, past a destination options header:
    the drop record's tuple walks the extension headers as the parser does, so the UDP flow the
    XDP program keyed on the transport header counts the drops."""
    make_gateway_drop(lab)
    daemon = start_daemon(flows={"aggregation": "userspace", "packet_sample_one_in": 0})
    assert wait_log(daemon, "kernel drops: counting"), daemon.stderr()
    flows = subscribe(daemon.endpoint, topic=b"flow")
    time.sleep(0.5)
    lab.exec(lab.wan, [sys.executable, "-c", SEND6_DSTOPTS, "2001:db8:100::10", "2001:db8:200::10", 40001, PACKETS])
    report = daemon.stop()
    flows.stop()
    # Counted by reason under class "other": the drop's class is the first next header's.
    assert report["kernel"]["drops"]["interfaces"]["wan0"]["NETFILTER_DROP"]["other"] == PACKETS, report["kernel"]
    mine = [r for r in flows.snapshot() if r.ip_version == 6 and r.dst_port == 40001 and r.l4_protocol == 17]
    assert len(mine) == 1, mine
    assert (mine[0].fwd.packets, mine[0].fwd.kernel_dropped) == (PACKETS, PACKETS), mine[0]


def test_ignored_reason_counted_as_ignored(lab, start_daemon):
    make_gateway_drop(lab)
    daemon = start_daemon(drops={"reasons_ignored": ["NETFILTER_DROP"]})
    assert wait_log(daemon, "kernel drops: counting"), daemon.stderr()
    send_ways(lab)
    wan0 = daemon.stop()["kernel"]["drops"]["interfaces"]["wan0"]
    assert "NETFILTER_DROP" not in wan0, wan0
    assert wan0["ignored"]["udp"] == PACKETS, wan0
    assert wan0["IP_RPFILTER"]["udp"] == PACKETS, wan0


def test_unknown_ignored_reason_stops_the_start(lab, env, tmp_path):
    from e2e_support import Daemon, lab_config
    config = lab_config(f"ipc://{tmp_path}/s.sock", drops={"reasons_ignored": ["NOT_SPECIFIED", "NO_SUCH_REASON"]})
    daemon = Daemon(env, lab, tmp_path, config)
    result = lab.exec(lab.gw, daemon.command(), check=False)
    assert result.returncode != 0
    assert 'drops.reasons_ignored[1]: "NO_SUCH_REASON" is not a drop reason of this kernel' in result.stderr, \
        result.stderr


def test_drops_disabled(lab, start_daemon):
    make_gateway_drop(lab)
    daemon = start_daemon(drops={"enabled": False})
    send_ways(lab)
    report = daemon.stop()
    assert "drops" not in report["kernel"]
    assert "kernel drops" not in daemon.stderr()
