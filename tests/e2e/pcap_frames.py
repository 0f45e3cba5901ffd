"""Frames written byte by byte (struct, no scapy) and a classic pcap of them: the captures
the e2e files write after a published trace, or to hold a case no corpus capture has."""
import ipaddress
import struct

SYN, RST, PSH, ACK, FIN = 0x02, 0x04, 0x08, 0x10, 0x01


def ether(ethertype, vlan=None):
    b = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")
    if vlan is not None:
        b += struct.pack("!HH", 0x8100, vlan)
    return b + struct.pack("!H", ethertype)


def tcp(sport, dport, flags, seq=1000, ack=0, payload=b"", doff=5, window=1024):
    opts = b"\x01" * ((doff - 5) * 4)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0) + opts + payload


def udp(sport, dport, payload=b""):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(src, dst, proto, l4, total_len=None):
    n = 20 + len(l4) if total_len is None else total_len
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, n, 1, 0x4000, 64, proto, 0, ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed) + l4


def ipv6(src, dst, proto, l4):
    return struct.pack("!IHBB16s16s", 0x60000000, len(l4), proto, 64, ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + l4


def write_pcap(path, frames, snaplen=65535):
    """frames: (seconds, frame bytes); each cut to snaplen, its original length kept."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snaplen, 1))
        for t, frame in frames:
            cap = frame[:snaplen]
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(cap), len(frame)) + cap)
    return path
