"""Community ID (v1) on flow records, packet events and the offline CSV, against independent
computations: Python's hashlib on the spec's preimage (built here from the 5-tuple), and
tshark's own Community ID (its `communityid` post-dissector).

Live, in both aggregation modes: both directions of a TCP flow, a UDP flow and an ICMPv6 echo
exchange give one ID, on the flow record and on the packet events of either direction.
Offline: the CSV's `community_id` column equals tshark's for each flow of a shared capture
and of frames written here (ICMP one-way and echo, a fragment after the first, UDP).
"""
import base64
import csv
import hashlib
import ipaddress
import json
import struct
import subprocess
import time

import pytest

from corpus import REPO_PCAPS
from e2e_support import Addr, Subscriber, random_ports, unavailable
from flow_support import AGGREGATION_MODES as MODES
from flow_support import final_records, record_key, str_addr, tcp_exchange, udp_flows
from pcap_frames import ether, ipv4, write_pcap

# Zeek's request/reply pairs of ICMP types (the spec's table); other types are one-way.
ICMP_PAIRS = {
    1: {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17},
    58: {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136, 136: 135, 139: 140, 140: 139,
         144: 145, 145: 144},
}
PORT_PROTOCOLS = (1, 6, 17, 58, 132)


def community_id(src, dst, proto, sport, dport, seed=0, ports=True):
    """The spec's definition; for ICMP, sport and dport are the type and code."""
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    ports = ports and proto in PORT_PROTOCOLS
    one_way = False
    if proto in ICMP_PAIRS:
        one_way = sport not in ICMP_PAIRS[proto]
        dport = dport if one_way else ICMP_PAIRS[proto][sport]
    if not one_way and (s, sport if ports else 0) > (d, dport if ports else 0):
        s, d, sport, dport = d, s, dport, sport
    data = struct.pack("!H", seed) + s + d + struct.pack("BB", proto, 0)
    if ports:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def event_ports(e):
    return (e.icmp_type, e.icmp_code) if e.l4_protocol in ICMP_PAIRS else (e.src_port, e.dst_port)


@pytest.mark.parametrize("aggregation", MODES)
def test_both_directions_of_a_flow_share_its_community_id(lab, start_daemon, env, echo_servers, aggregation):
    flows = {"tcp_close_grace_ms": 100, "aggregation": aggregation}
    if aggregation == "kernel":
        flows["packet_sample_one_in"] = 1  # every packet also yields an event
    daemon = start_daemon(flows=flows, publish={"community_id_seed": 7})
    events = Subscriber(env, daemon.endpoint, b"pkt")
    flow_sub = Subscriber(env, daemon.endpoint, b"flow")
    time.sleep(0.5)
    udp_flows(lab, echo_servers)
    port = random_ports(1)[0]
    tcp_exchange(lab, lab.lan, Addr.LAN4_PEER, lab.wan, Addr.WAN4_PEER, port)
    lab.ping(lab.lan, Addr.WAN6_PEER, count=2)
    daemon.stop()
    events.stop()
    flow_sub.stop()

    by_key = {}
    for e in events.snapshot():
        if e.ip_version:
            key = record_key(e)
            assert e.community_id == community_id(str_addr(e.src_addr), str_addr(e.dst_addr), e.l4_protocol,
                                                  *event_ports(e), seed=7), e
            by_key.setdefault(key, []).append(e)
    records = final_records(r for r in flow_sub.snapshot() if not r.is_update)
    tcp = [k for k, r in records.items() if r.l4_protocol == 6 and r.dst_port == port]
    peer6 = ipaddress.ip_address(Addr.WAN6_PEER).packed
    echo = [k for k, r in records.items() if r.l4_protocol == 58 and r.dst_addr == peer6]
    udp = [k for k, r in records.items() if r.l4_protocol == 17]
    assert tcp and echo and udp, sorted(records)
    for key in tcp + echo + udp:
        r = records[key]
        sent = by_key.get(key, [])
        # Both directions' events, each with the flow's ID.
        assert {e.src_addr for e in sent} == {r.src_addr, r.dst_addr}, (r, sent)
        assert {e.community_id for e in sent} == {r.community_id}, (r.community_id, [e.community_id for e in sent])
        first = (8, 0) if r.l4_protocol == 1 else (128, 0) if r.l4_protocol == 58 else (r.src_port, r.dst_port)
        assert r.community_id == community_id(str_addr(r.src_addr), str_addr(r.dst_addr), r.l4_protocol, *first,
                                              seed=7)


def tshark_ids(pcap):
    """{(proto, src, dst, sport, dport): tshark's Community ID} of every IP packet (no reassembly)."""
    fields = ["ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "ip.proto", "ipv6.nxt", "tcp.srcport", "udp.srcport",
              "tcp.dstport", "udp.dstport", "communityid"]
    cmd = ["tshark", "-n", "-r", str(pcap), "-o", "ip.defragment:FALSE", "--enable-protocol", "communityid",
           "-T", "fields", "-E", "occurrence=f"] + [a for f in fields for a in ("-e", f)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    ids = {}
    for line in out.splitlines():
        v = line.split("\t")
        if v[10]:
            ids[(int(v[4] or v[5]), v[0] or v[1], v[2] or v[3], int(v[6] or v[7] or 0), int(v[8] or v[9] or 0))] = v[10]
    return ids


def csv_rows(env, tmp_path, pcap, mode):
    config = tmp_path / f"{mode}.json"
    config.write_text(json.dumps({"interfaces": [{"name": "wan0", "role": "wan", "mode": "gateway"}],
                                  "flows": {"aggregation": mode}}))
    out = tmp_path / f"{mode}.csv"
    proc = subprocess.run([env.sniffer, "--config", config, "--read-pcap", pcap, "--write-csv", out],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(out) as f:
        return list(csv.DictReader(f))


def row_tuple(row):
    return (int(row["Protocol"]), row["Source IP"], row["Destination IP"], int(row["Source Port"]),
            int(row["Destination Port"]))


@pytest.mark.parametrize("mode", MODES)
def test_csv_community_id_equals_tsharks_on_a_shared_capture(env, tmp_path, mode):
    pcap = REPO_PCAPS / "web" / "http_bro_org.pcap"
    if not pcap.is_file():
        unavailable(f"no {pcap}")
    rows = csv_rows(env, tmp_path, pcap, mode)
    ids = tshark_ids(pcap)
    assert rows and all(r["community_id"].startswith("1:") for r in rows)
    for row in rows:
        assert row["community_id"] == ids[row_tuple(row)], row["Flow ID"]
        assert row["community_id"] == community_id(row["Source IP"], row["Destination IP"], int(row["Protocol"]),
                                                   int(row["Source Port"]), int(row["Destination Port"]))
    print(f"{len(rows)} flows of {pcap.name}: community_id equals tshark's")


def icmp(type_, code=0):
    return struct.pack("!BBHI", type_, code, 0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_csv_community_id_of_icmp_and_fragments_equals_tsharks(env, tmp_path, mode):
    a, b = "10.0.0.1", "10.0.0.2"
    # Two one-way messages between a and b: one flow (its key has no ports), whose ID is its
    # first message's; sent by the larger address, it stays first.
    frames = [ether(0x0800) + ipv4(b, a, 1, icmp(11)),
              ether(0x0800) + ipv4(a, b, 1, icmp(3, 3)),
              ether(0x0800) + ipv4("10.0.0.3", a, 1, icmp(0)),  # an echo reply first
              ether(0x0800) + ipv4(a, "10.0.0.3", 1, icmp(8)),
              ether(0x0800) + ipv4("10.0.0.4", a, 17, struct.pack("!HHHH", 5353, 53, 8, 0))]
    # A TCP fragment after the first (offset 1480): no L4 header, so no ports.
    frag = bytearray(ipv4("10.0.0.5", a, 6, b"\0" * 16))
    frag[6:8] = struct.pack("!H", 1480 // 8)
    frames.append(ether(0x0800) + bytes(frag))
    pcap = write_pcap(tmp_path / "icmp.pcap", [(1_700_000_000 + i, f) for i, f in enumerate(frames)])
    ids = tshark_ids(pcap)
    rows = csv_rows(env, tmp_path, pcap, mode)
    assert len(rows) == 4, [r["Flow ID"] for r in rows]
    for row in rows:
        proto, src, dst = row_tuple(row)[:3]
        wanted = {v for k, v in ids.items() if k[:3] == (proto, src, dst)}
        assert len(wanted) == 1 and row["community_id"] in wanted, (row["Flow ID"], row["community_id"], wanted)
