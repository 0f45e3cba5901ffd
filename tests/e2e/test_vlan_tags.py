"""VLAN tags are the same at every hook: in the frame, or in the skb's metadata.

The kernel moves a received frame's outer 802.1Q/802.1ad tag out of the frame into
skb->vlan_tci (skb_vlan_untag in __netif_receive_skb_core, before TC ingress runs), and a
NIC or veth with VLAN offload sends a frame's tag as metadata too. XDP reads the tag in the
frame; the TC hooks must read it from the skb, or the same traffic would carry VLAN 0 at TC
and its flow would be split from the one XDP sees.

The WAN peer sends raw tagged frames (an AF_PACKET socket: the tag in the frame) to the
gateway's wan0, which has no VLAN device (none needed: the hooks run first). Each hook must
report the tags outer first and the frame's length on the wire, tag included, and the
flow record must carry the outer VLAN id.
"""
import pytest

from e2e_support import Addr, random_ports
from pcap_frames import ipv4, udp

FRAMES = 6
MAC_GW_WAN = bytes.fromhex("025300640001")
MAC_PEER_WAN = bytes.fromhex("025300640010")

SEND_RAW = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frame = bytes.fromhex(sys.argv[1])
for _ in range(int(sys.argv[2])):
    s.send(frame)
"""


def tagged_frame(tags, sport):
    """Ethernet to wan0 with the given (TPID, VID) tags, outer first, then IPv4/UDP."""
    l2 = MAC_GW_WAN + MAC_PEER_WAN
    for tpid, vid in tags:
        l2 += tpid.to_bytes(2, "big") + vid.to_bytes(2, "big")
    return l2 + (0x0800).to_bytes(2, "big") + ipv4(Addr.WAN4_PEER, Addr.WAN4_GW, 17, udp(sport, 9, b"v" * 18))


@pytest.mark.parametrize("hook", ["xdp", "tc_ingress"])
def test_vlan_tags_are_reported_at_every_hook(lab, start_daemon, subscribe, env, hook):
    daemon = start_daemon(interfaces=[
        {"name": "wan0", "role": "wan", "mode": "host-based", "hooks": [hook]},
        {"name": "lan0", "role": "lan", "mode": "gateway", "hooks": ["xdp"]},
    ])
    events = subscribe(daemon.endpoint)
    flows = subscribe(daemon.endpoint, b"flow")
    lab.ping(lab.wan, Addr.WAN4_GW, count=1)
    assert events.wait_for(lambda evs: len(evs) > 0, timeout=10), "no event within 10 s of a ping"

    single, double = random_ports(2)
    cases = {single: [(0x8100, 100)], double: [(0x88a8, 200), (0x8100, 100)]}
    frames = {sport: tagged_frame(tags, sport) for sport, tags in cases.items()}
    for sport, frame in frames.items():
        lab.exec(lab.wan, ["/usr/bin/python3", "-c", SEND_RAW, frame.hex(), str(FRAMES)])

    def ours(evs):
        return [e for e in evs if e.src_port in cases and e.dst_port == 9]

    assert events.wait_for(lambda evs: len(ours(evs)) == 2 * FRAMES, timeout=5), \
        f"{len(ours(events.snapshot()))} of {2 * FRAMES} tagged frames reported"
    daemon.stop()
    events.stop()
    flows.stop()

    hook_name = {"xdp": "xdp_ingress", "tc_ingress": "tc_ingress"}[hook]
    for e in ours(events.snapshot()):
        tags = cases[e.src_port]
        where = f"{hook_name} sport {e.src_port}"
        assert (e.interface, e.hook) == ("wan0", env.pb2.Hook.Value(f"HOOK_{hook_name.upper()}")), where
        assert list(e.vlan_ids) == [vid for _, vid in tags], where
        assert e.wire_length == len(frames[e.src_port]), where
        assert (e.src_addr, e.dst_addr, e.l4_protocol) == (bytes([198, 51, 100, 10]), bytes([198, 51, 100, 1]), 17), where
        assert e.parse_flags == 0, where

    records = {r.src_port: r for r in flows.snapshot() if r.src_port in cases and r.dst_port == 9}
    for sport, tags in cases.items():
        assert sport in records, f"no flow record for sport {sport} ({hook_name})"
        assert records[sport].vlan_id == tags[0][1], f"sport {sport} ({hook_name})"
