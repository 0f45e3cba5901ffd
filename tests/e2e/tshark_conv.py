"""tshark's TCP and UDP conversation statistics of a capture: the reference
for per-5-tuple comparisons with sniffer's flow records.

What tshark 4.0 counts (`tshark -q -z conv,tcp -z conv,udp`, checked on the
captures under ../shared/pcaps):

- One conversation per TCP or UDP header that the TCP/UDP dissector taps,
  keyed by the addresses of the IP header right before it, the two ports and,
  for TCP, the stream index: a SYN (without ACK) whose sequence number differs
  from the first SYN's starts a new TCP conversation on the same 5-tuple
  ("port reuse"), whatever state the old one was in. UDP conversations are
  never split; neither kind ever ends on a timeout. VLAN tags are not part of
  the key (one 5-tuple on two VLANs is one conversation).
- Per direction: frames, and bytes = the sum of frame.len, the original frame
  length from the capture record (Ethernet header included, FCS only if the
  capture holds it; a frame truncated by the snap length still counts its
  original length). tshark 4.0 prints the bytes rounded down to kB from 10,000
  bytes on, so this module sums frame.len itself (a second tshark pass with the
  same options) and checks each sum against the printed text.
- Relative start: the conversation's first frame, seconds after the capture's
  first frame (any protocol), printed "%.9f"; duration: last minus first frame,
  as doubles, printed "%.4f" (0.1 ms resolution).
- Not counted: TCP/UDP headers quoted inside ICMP/ICMPv6 errors, IP fragments
  other than the first, frames whose TCP/UDP header tshark cannot read.

The options below make tshark count only what a parser of the outer headers
(Ethernet, at most two VLAN tags, IPv4/IPv6, TCP/UDP) sees:
- IP reassembly off (`ip.defragment`, `ipv6.defragment`): with it on, tshark
  counts a fragmented datagram once, on its last fragment, with that frame's
  length only; with it off the first fragment carries the ports and is counted
  like any packet, and the other fragments are counted nowhere.
- Tunnels not dissected: GRE (and ERSPAN, WCCP, ... on top of it), VXLAN,
  Geneve, GTP, L2TP, Teredo, LISP, CAPWAP, MPLS, PPPoE sessions, EtherIP, and
  IP-in-IP (IP protocols 4 and 41 decoded as data). The outer UDP header of a
  UDP tunnel still counts (as the outer-header parser sees it); the inner
  conversations do not.
- No name resolution; no TCP reassembly (it changes no count, only the time).
What no option changes: frames with three or more VLAN tags (counted by
tshark, not by a parser that reads two), 802.3/LLC-SNAP framing, IPv6 chains
of 8 or more extension headers. `oddities()` lists these per conversation.
"""
from __future__ import annotations

import ipaddress
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field

# Protocols whose payload tshark must not dissect (inner conversations).
DISABLED_PROTOCOLS = [
    "gre", "vxlan", "geneve", "erspan", "gtp", "gtpv2", "l2tp", "teredo", "lisp-data",
    "capwap", "mpls", "pppoes", "etherip", "ayiya", "nsh",
]

TSHARK_OPTIONS = [
    "-n",
    "-o", "ip.defragment:FALSE",
    "-o", "ipv6.defragment:FALSE",
    "-o", "tcp.desegment_tcp_streams:FALSE",
    "--disable-protocol", ",".join(DISABLED_PROTOCOLS),
    "-d", "ip.proto==4,data",   # IPv4 in IP
    "-d", "ip.proto==41,data",  # IPv6 in IP
]

Endpoint = tuple  # (address text, port)
Key = tuple       # (proto, Endpoint, Endpoint), endpoints sorted


def canonical_key(proto: str, addr1: str, port1: int, addr2: str, port2: int) -> Key:
    """("tcp"|"udp", (addr, port), (addr, port)) with the smaller endpoint first
    (IPv4 before IPv6, then by address value, then by port). Addresses in any
    text form; the key holds their compressed form."""
    a = (ipaddress.ip_address(addr1), int(port1))
    b = (ipaddress.ip_address(addr2), int(port2))
    lo, hi = sorted([a, b], key=lambda e: (e[0].version, int(e[0]), e[1]))
    return (proto, (str(lo[0]), lo[1]), (str(hi[0]), hi[1]))


def format_size(n: int) -> str:
    """tshark 4.0's text for a byte count in the conversation table."""
    for power, prefix in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "k")):
        if n // 1000 ** power >= 10:
            return f"{n // 1000 ** power} {prefix}B"
    return f"{n} bytes"


@dataclass
class Conversation:
    proto: str               # "tcp" or "udp"
    a: Endpoint              # left side of tshark's "A <-> B" line
    b: Endpoint
    a_to_b_packets: int      # tshark's "->" columns
    a_to_b_bytes: int        # exact sum of frame.len
    b_to_a_packets: int      # tshark's "<-" columns
    b_to_a_bytes: int
    start: float             # relative start, s, as printed
    duration: float          # s, as printed (4 decimals)
    start_text: str
    duration_text: str
    stream: int = -1         # tcp.stream / udp.stream
    first_ns: int = 0        # epoch ns of the first and last frame (exact)
    last_ns: int = 0
    frame_numbers: list = field(default_factory=list, repr=False)

    @property
    def key(self) -> Key:
        return canonical_key(self.proto, self.a[0], self.a[1], self.b[0], self.b[1])

    def direction(self, src: Endpoint) -> dict:
        """Packets and bytes sent by `src` (one of the endpoints)."""
        src = (str(ipaddress.ip_address(src[0])), int(src[1]))
        if src == self.a:
            return {"src": self.a, "dst": self.b, "packets": self.a_to_b_packets, "bytes": self.a_to_b_bytes}
        if src == self.b:
            return {"src": self.b, "dst": self.a, "packets": self.b_to_a_packets, "bytes": self.b_to_a_bytes}
        raise KeyError(f"{src} is not an endpoint of {self.a} <-> {self.b}")

    def as_dict(self) -> dict:
        return {
            "proto": self.proto,
            "A->B": {"src": self.a, "dst": self.b, "packets": self.a_to_b_packets, "bytes": self.a_to_b_bytes},
            "B->A": {"src": self.b, "dst": self.a, "packets": self.b_to_a_packets, "bytes": self.b_to_a_bytes},
            "start": self.start,
            "duration": self.duration,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
        }


class ConversationTable(dict):
    """Key -> [Conversation, ...] ordered by start: usually one, several when
    tshark split a reused TCP 5-tuple. `warnings`: what tshark said on stderr
    (a damaged or cut-short file still yields the conversations read so far)."""

    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []
        self.frames: list[Frame] = []

    def all(self):
        return [c for convs in self.values() for c in convs]


# ---------------------------------------------------------------------------
# The conversation table as printed.

_ROW = re.compile(
    r"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+"
    r"(?P<rx_f>\d+)\s+(?P<rx_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<tx_f>\d+)\s+(?P<tx_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<tot_f>\d+)\s+(?P<tot_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<start>-?\d+\.\d+)\s+(?P<dur>-?\d+\.\d+)\s*$")


def _endpoint(text: str) -> Endpoint:
    addr, _, port = text.rpartition(":")
    return (str(ipaddress.ip_address(addr)), int(port))


def _run(args: list[str], tshark: str) -> tuple[str, list[str]]:
    proc = subprocess.run([tshark, *TSHARK_OPTIONS, *args], capture_output=True, text=True)
    warnings = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("Running as user")]
    # 2: the file is damaged or cut short; what was read is still reported.
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{tshark} {' '.join(args)} failed ({proc.returncode}): {' '.join(warnings)}")
    return proc.stdout, warnings


def printed_table(pcap_path: str, tshark: str = "tshark") -> tuple[list[dict], list[str]]:
    """The rows of `-z conv,tcp -z conv,udp` as printed (bytes as text)."""
    out, warnings = _run(["-q", "-z", "conv,tcp", "-z", "conv,udp", "-r", str(pcap_path)], tshark)
    rows, proto = [], None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        elif "<->" in line:
            m = _ROW.match(line)
            if not m or proto is None:
                raise RuntimeError(f"unexpected tshark conversation line: {line!r}")
            rows.append({
                "proto": proto, "a": _endpoint(m["a"]), "b": _endpoint(m["b"]),
                "b_to_a_packets": int(m["rx_f"]), "b_to_a_bytes_text": m["rx_b"],
                "a_to_b_packets": int(m["tx_f"]), "a_to_b_bytes_text": m["tx_b"],
                "start_text": m["start"], "duration_text": m["dur"],
            })
    return rows, warnings


# ---------------------------------------------------------------------------
# Per-frame fields (the same options), for exact byte sums and for oddities.

FRAME_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.time_relative", "frame.len", "frame.cap_len", "frame.protocols",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.flags", "tcp.seq_raw",
    "udp.srcport", "udp.dstport", "udp.stream",
    "vlan.id", "ip.flags.mf", "ip.frag_offset", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "_ws.malformed",
]

_IPV6_EXT = {"ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah"}


@dataclass
class Layer:
    """One TCP/UDP header that tshark's conversation tap counted."""
    proto: str
    stream: int
    src: Endpoint
    dst: Endpoint
    outer: bool              # the first IP header of the frame, behind Ethernet and <= 2 VLAN tags
    tcp_flags: int = 0
    tcp_seq: int = 0


@dataclass
class Frame:
    number: int
    epoch_ns: int
    rel: str
    length: int              # frame.len
    cap_len: int
    protocols: list
    vlan_ids: list
    fragment: bool           # an IP fragment (first or not)
    non_first_fragment: bool
    malformed: bool
    layers: list             # counted TCP/UDP headers


def _epoch_ns(text: str) -> int:
    secs, _, frac = text.partition(".")
    return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])


def _split(v: str) -> list[str]:
    return v.split(",") if v else []


def frames(pcap_path: str, tshark: str = "tshark") -> tuple[list[Frame], list[str]]:
    args = ["-r", str(pcap_path), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FRAME_FIELDS:
        args += ["-e", f]
    out, warnings = _run(args, tshark)
    result = []
    for line in out.splitlines():
        v = dict(zip(FRAME_FIELDS, line.split("\t")))
        protos = v["frame.protocols"].split(":")
        vals = {k: _split(v.get(k, "")) for k in FRAME_FIELDS[6:]}
        idx = defaultdict(int)        # occurrences consumed per field family
        layers, last_ip, first_ip_seen, in_error = [], None, False, False
        outer_prefix_ok = True
        n_vlan = 0
        for i, p in enumerate(protos):
            if p in ("icmp", "icmpv6"):
                in_error = True   # what follows is the quoted packet of an error
            if p == "vlan":
                n_vlan += 1
            if p in ("ip", "ipv6"):
                fam = p
                k = idx[fam]
                idx[fam] += 1
                src, dst = vals[f"{fam}.src"], vals[f"{fam}.dst"]
                last_ip = (src[k] if k < len(src) else None, dst[k] if k < len(dst) else None,
                           not first_ip_seen and outer_prefix_ok and n_vlan <= 2)
                first_ip_seen = True
                ext = 0
            elif p in _IPV6_EXT and last_ip is not None:
                ext += 1
                if ext >= 8:  # a bounded parser gives up before the L4 header
                    last_ip = (last_ip[0], last_ip[1], False)
            elif p in ("tcp", "udp"):
                k = idx[p]
                idx[p] += 1
                if in_error or last_ip is None:
                    continue
                streams = vals[f"{p}.stream"]
                sports, dports = vals[f"{p}.srcport"], vals[f"{p}.dstport"]
                if k >= len(streams) or k >= len(sports):
                    continue  # header not read: not tapped
                layer = Layer(p, int(streams[k]), (last_ip[0], int(sports[k])), (last_ip[1], int(dports[k])),
                              last_ip[2])
                if p == "tcp":
                    flags, seqs = vals["tcp.flags"], vals["tcp.seq_raw"]
                    layer.tcp_flags = int(flags[k], 16) if k < len(flags) else 0
                    layer.tcp_seq = int(seqs[k]) if k < len(seqs) else 0
                layers.append(layer)
            elif not first_ip_seen and p not in ("eth", "ethertype", "vlan"):
                outer_prefix_ok = False   # e.g. llc, mpls, pppoes before the first IP header
        mf = vals["ip.flags.mf"]
        fo = vals["ip.frag_offset"]
        f6o = vals["ipv6.fraghdr.offset"]
        f6m = vals["ipv6.fraghdr.more"]
        v4_frag = bool(mf and (mf[0] in ("1", "True") or (fo and fo[0] not in ("0", ""))))
        v6_frag = bool(f6o)
        non_first = bool((fo and fo[0] not in ("0", "")) or (f6o and f6o[0] not in ("0", "")))
        result.append(Frame(
            number=int(v["frame.number"]), epoch_ns=_epoch_ns(v["frame.time_epoch"]), rel=v["frame.time_relative"],
            length=int(v["frame.len"]), cap_len=int(v["frame.cap_len"]), protocols=protos,
            vlan_ids=[int(x) for x in vals["vlan.id"]], fragment=v4_frag or v6_frag or bool(f6m),
            non_first_fragment=non_first, malformed=bool(v.get("_ws.malformed")), layers=layers))
    return result, warnings


# ---------------------------------------------------------------------------

def conversations(pcap_path: str, tshark: str = "tshark") -> ConversationTable:
    """tshark's TCP and UDP conversations of a capture, keyed by
    canonical_key(); exact bytes; checked against the printed table."""
    rows, warnings = printed_table(pcap_path, tshark)
    frame_list, _ = frames(pcap_path, tshark)

    # Per (proto, stream): the frames tshark's tap counted.
    streams: dict[tuple, dict] = {}
    for f in frame_list:
        for l in f.layers:
            s = streams.setdefault((l.proto, l.stream), {"frames": [], "by_src": defaultdict(lambda: [0, 0])})
            s["frames"].append(f)
            d = s["by_src"][(str(ipaddress.ip_address(l.src[0])), l.src[1])]
            d[0] += 1
            d[1] += f.length
            s.setdefault("key", canonical_key(l.proto, l.src[0], l.src[1], l.dst[0], l.dst[1]))

    # Join printed rows with streams: same key, in order of start.
    by_key_streams = defaultdict(list)
    for (proto, sid), s in streams.items():
        by_key_streams[s["key"]].append((s["frames"][0].epoch_ns, sid, s))
    by_key_rows = defaultdict(list)
    for r in rows:
        by_key_rows[canonical_key(r["proto"], *r["a"], *r["b"])].append(r)

    table = ConversationTable()
    table.warnings = warnings
    table.frames = frame_list
    problems = []
    for key, krows in by_key_rows.items():
        krows.sort(key=lambda r: float(r["start_text"]))
        kstreams = sorted(by_key_streams.get(key, []), key=lambda t: (t[0], t[1]))
        if len(kstreams) != len(krows):
            problems.append(f"{key}: {len(krows)} printed conversations, {len(kstreams)} streams")
            continue
        for r, (_, sid, s) in zip(krows, kstreams):
            a_pk, a_by = s["by_src"].get(r["a"], [0, 0])
            b_pk, b_by = s["by_src"].get(r["b"], [0, 0])
            conv = Conversation(
                proto=r["proto"], a=r["a"], b=r["b"],
                a_to_b_packets=r["a_to_b_packets"], a_to_b_bytes=a_by,
                b_to_a_packets=r["b_to_a_packets"], b_to_a_bytes=b_by,
                start=float(r["start_text"]), duration=float(r["duration_text"]),
                start_text=r["start_text"], duration_text=r["duration_text"], stream=sid,
                first_ns=min(f.epoch_ns for f in s["frames"]), last_ns=max(f.epoch_ns for f in s["frames"]),
                frame_numbers=[f.number for f in s["frames"]])
            if (a_pk, b_pk) != (r["a_to_b_packets"], r["b_to_a_packets"]):
                problems.append(f"{key} stream {sid}: frames {a_pk}/{b_pk}, printed "
                                f"{r['a_to_b_packets']}/{r['b_to_a_packets']}")
            if (format_size(a_by), format_size(b_by)) != (r["a_to_b_bytes_text"], r["b_to_a_bytes_text"]):
                problems.append(f"{key} stream {sid}: bytes {a_by}/{b_by}, printed "
                                f"{r['a_to_b_bytes_text']}/{r['b_to_a_bytes_text']}")
            table.setdefault(key, []).append(conv)
    for key in by_key_streams.keys() - by_key_rows.keys():
        problems.append(f"{key}: counted frames but no printed conversation")
    if problems:
        raise RuntimeError(f"{pcap_path}: tshark's table and its frames disagree:\n  " + "\n  ".join(problems[:20]))
    return table


def oddities(table: ConversationTable) -> dict:
    """Per key, why a flow meter that reads only outer headers (Ethernet, two
    VLAN tags, IP, TCP/UDP) and keys flows by 5-tuple + outer VLAN would not
    reproduce tshark's numbers:
      inner        some counted headers are not the frame's outer IP/L4 headers
      vlan_split   the conversation's frames carry different outer VLAN ids
      truncated    some frames were captured shorter than their length
      fragments    the conversation has IP fragments (only first ones count)
      port_reuse   tshark split the 5-tuple into several conversations
      malformed    some frames are malformed for tshark
    """
    by_number = {f.number: f for f in table.frames}
    result = {}
    for key, convs in table.items():
        flags = set()
        if len(convs) > 1:
            flags.add("port_reuse")
        vlans = set()
        for c in convs:
            for n in c.frame_numbers:
                f = by_number[n]
                if any(not l.outer for l in f.layers if l.stream == c.stream and l.proto == c.proto):
                    flags.add("inner")
                vlans.add(f.vlan_ids[0] if f.vlan_ids else 0)
                if f.cap_len < f.length:
                    flags.add("truncated")
                if f.fragment:
                    flags.add("fragments")
                if f.malformed:
                    flags.add("malformed")
        if len(vlans) > 1:
            flags.add("vlan_split")
        if flags:
            result[key] = sorted(flags)
    return result


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        t = conversations(path)
        odd = oddities(t)
        print(f"{path}: {len(t.all())} conversations ({len(t)} 5-tuples), {len(odd)} with oddities")
        for w in t.warnings:
            print(f"  tshark: {w}")
        for key, flags in list(odd.items())[:10]:
            print(f"  {key}: {', '.join(flags)}")
