"""tshark's TCP and UDP conversation statistics of a capture: the reference
for per-5-tuple comparisons with sniffer's flow records.

What tshark 4.0 counts in `tshark -q -z conv,tcp -z conv,udp` (checked on the
captures under ../shared/pcaps):

- One count per TCP or UDP header that the TCP/UDP dissector hands to its tap,
  keyed by the addresses of the IP header right before it, the two ports and,
  for TCP, the stream index. A SYN (without ACK) whose sequence number differs
  from the first SYN's starts a new TCP conversation on the same 5-tuple
  ("port reuse"), whatever state the old one was in. UDP conversations are
  never split, and no conversation ever ends on a timeout. VLAN tags are not
  part of the key (one 5-tuple on two VLANs is one conversation).
- Per direction ("A->B" is tshark's "->" column, "B->A" its "<-"): frames, and
  bytes = the sum of frame.len, the original length from the capture record:
  Ethernet header included, FCS only if the capture holds one, and the full
  length of a frame the snap length truncated. tshark 4.0 prints bytes rounded
  down to kB from 10,000 bytes on, so this module takes the exact per-frame
  numbers from tshark's own tap (a Lua listener on the "tcp" and "udp" taps, the
  ones the conversation table uses) and checks them against the printed table.
- Relative start: the conversation's first frame, in seconds after the
  capture's first frame (any protocol), printed "%.9f"; duration: last minus
  first frame as doubles, printed "%.4f" (0.1 ms resolution). first_ns and
  last_ns give the exact epoch times of the first and last frame.
- Not counted: TCP/UDP headers quoted inside ICMP/ICMPv6 errors; IP fragments
  other than the first (with reassembly off, see below); TCP segments whose
  header (options included) the capture cut short; headers tshark cannot read.

The options below make tshark count only what a parser of the outer headers
(Ethernet, VLAN tags, IPv4/IPv6, TCP/UDP) sees:
- IP reassembly off (ip.defragment, ipv6.defragment). With it on, tshark
  counts a fragmented datagram once, on its last fragment, with that frame's
  length only; with it off the first fragment carries the ports and counts like
  any packet, and later fragments count nowhere.
- Tunnel payloads not dissected: GRE (ERSPAN, WCCP, NVGRE... ride on it),
  VXLAN, Geneve, GTP, L2TP, Teredo, LISP, CAPWAP, MPLS, PPPoE sessions, EtherIP,
  and IP-in-IP (IP protocols 4 and 41 decoded as data). The outer UDP header of a
  UDP tunnel still counts, as the outer-header parser sees it. (tshark 4.0's
  --disable-protocol takes one name per option and ignores unknown names.)
- No name resolution, no TCP reassembly (neither changes a count).
What no option changes: frames with more VLAN tags than the outer-header parser
reads, 802.3/LLC-SNAP framing, IPv6 chains of 8 or more extension headers, and
truncated frames (their tshark bytes are the original length). oddities()
lists these per conversation.

Usage:
    table = conversations("../shared/pcaps/web/http_bro_org.pcap")
    for key, convs in table.items():     # key = ("tcp", ("10.0.2.15", 55080), ("192.150.187.43", 80))
        for c in convs:                  # usually one; several after TCP port reuse
            c.direction(("10.0.2.15", 55080))   # {"src", "dst", "packets", "bytes"}
    python3 tshark_conv.py FILE...       # a summary per capture
"""
from __future__ import annotations

import functools
import ipaddress
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field

# The protocols an outer-header parser reads. tshark dissects these and
# nothing else: every other protocol is disabled (4.0 has no --only-protocols,
# and --disable-protocol takes one name per option and ignores unknown names).
ENABLED_PROTOCOLS = {
    "frame", "pkt_comment", "eth", "ethertype", "vlan", "ieee8021ad", "ip", "ipv6", "ipv6.hopopts",
    "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah", "tcp", "udp", "data",
}

BASE_OPTIONS = [
    "-n",
    "-o", "ip.defragment:FALSE",
    "-o", "ipv6.defragment:FALSE",
    "-o", "tcp.desegment_tcp_streams:FALSE",
    "-d", "ip.proto==4,data",   # IPv4 in IPv4/IPv6: "ip" itself is enabled
    "-d", "ip.proto==41,data",  # IPv6 in IPv4/IPv6
]


@functools.lru_cache(maxsize=None)
def tshark_options(tshark: str = "tshark") -> tuple:
    """BASE_OPTIONS plus one --disable-protocol per protocol not in
    ENABLED_PROTOCOLS (tshark's own "_ws.*" pseudo-protocols stay on)."""
    out = subprocess.run([tshark, "-G", "protocols"], capture_output=True, text=True, check=True).stdout
    names = [line.split("\t")[2] for line in out.splitlines() if line.count("\t") >= 2]
    disabled = [n for n in names
                if n not in ENABLED_PROTOCOLS and not n.startswith("_ws.") and not n.startswith("ipv6.routing.")]
    return tuple(BASE_OPTIONS) + tuple(a for n in disabled for a in ("--disable-protocol", n))


# How many VLAN tags and IPv6 extension headers the outer-header parser reads
# (sniffer: bpf/parse.bpf.h, SNIFFER_IPV6_MAX_EXT_HDRS).
OUTER_MAX_VLAN_TAGS = 2
OUTER_MAX_IPV6_EXT_HEADERS = 7

Endpoint = tuple  # (address text, port)
Key = tuple       # (proto, Endpoint, Endpoint), endpoints sorted


def canonical_key(proto: str, addr1: str, port1: int, addr2: str, port2: int) -> Key:
    """("tcp"|"udp", (addr, port), (addr, port)), the smaller endpoint first
    (IPv4 before IPv6, then by address value, then by port). Addresses in any
    text form (or 4/16 raw bytes); the key holds their compressed text form."""
    a = (_ip(addr1), int(port1))
    b = (_ip(addr2), int(port2))
    lo, hi = sorted([a, b], key=lambda e: (e[0].version, int(e[0]), e[1]))
    return (proto, (str(lo[0]), lo[1]), (str(hi[0]), hi[1]))


def _ip(addr):
    return ipaddress.ip_address(bytes(addr) if isinstance(addr, (bytes, bytearray)) else addr)


def format_size(n: int) -> str:
    """tshark 4.0's text for a byte count in the conversation table."""
    for power, prefix in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "k")):
        if n // 1000 ** power >= 10:
            return f"{n // 1000 ** power} {prefix}B"
    return f"{n} bytes"


@dataclass
class Frame:
    number: int
    epoch_ns: int
    length: int              # frame.len: what tshark's conversation bytes add up
    cap_len: int
    protocols: list          # frame.protocols, e.g. ["eth", "ethertype", "ip", "tcp"]
    vlan_ids: list           # outer tag first
    first_ip: tuple          # (src, dst) of the frame's first IP header, or None
    fragment: bool           # an IPv4 or IPv6 fragment (first or later)
    malformed: bool


@dataclass
class TapEvent:
    """One TCP/UDP header counted by tshark's conversation tap."""
    proto: str
    frame: int
    stream: int
    src: Endpoint
    dst: Endpoint
    tcp_flags: int = 0
    tcp_seq: int = 0         # raw sequence number


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
    first_ns: int = 0        # epoch ns of the first and last frame
    last_ns: int = 0
    events: list = field(default_factory=list, repr=False)  # its TapEvents, in frame order

    @property
    def key(self) -> Key:
        return canonical_key(self.proto, self.a[0], self.a[1], self.b[0], self.b[1])

    @property
    def packets(self) -> int:
        return self.a_to_b_packets + self.b_to_a_packets

    def direction(self, src) -> dict:
        """Packets and bytes sent by endpoint `src` = (address, port)."""
        src = (str(_ip(src[0])), int(src[1]))
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
    tshark split a reused TCP 5-tuple. Also: `warnings` (what tshark said on
    stderr: a damaged or cut-short file still yields what was read), `frames`
    (every frame, by number) and `events` (every counted TCP/UDP header)."""

    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []
        self.frames: dict[int, Frame] = {}
        self.events: list[TapEvent] = []

    def all(self) -> list[Conversation]:
        return [c for convs in self.values() for c in convs]


# ---------------------------------------------------------------------------
# One tshark run: the conversation tables, plus a Lua listener on the same
# "tcp" and "udp" taps (and on every frame) for the exact numbers.

_LUA = r"""
local f_epoch = Field.new("frame.time_epoch")
local f_protos = Field.new("frame.protocols")
local f_vlan = Field.new("vlan.id")
local f_ip_src = Field.new("ip.src")
local f_ip_dst = Field.new("ip.dst")
local f_ip6_src = Field.new("ipv6.src")
local f_ip6_dst = Field.new("ipv6.dst")
local f_mf = Field.new("ip.flags.mf")
local f_fo = Field.new("ip.frag_offset")
local f_fh = Field.new("ipv6.fraghdr")
local f_malformed = Field.new("_ws.malformed")

local function all(f)
  local out = {}
  for _, x in ipairs({f()}) do out[#out + 1] = tostring(x.value) end
  return out
end

local frame = Listener.new("frame", nil, false)
function frame.packet(pinfo, tvb)
  local t = f_epoch().value
  local protos = tostring(f_protos().value)
  local first = ""
  local v4, v6 = protos:find(":ip:") or protos:find(":ip$"), protos:find(":ipv6:") or protos:find(":ipv6$")
  if v4 and (not v6 or v4 < v6) then
    first = (all(f_ip_src)[1] or "") .. "," .. (all(f_ip_dst)[1] or "")
  elseif v6 then
    first = (all(f_ip6_src)[1] or "") .. "," .. (all(f_ip6_dst)[1] or "")
  end
  local frag = 0
  local mf, fo = all(f_mf), all(f_fo)
  if (mf[1] == "true" or mf[1] == "1") or (fo[1] and fo[1] ~= "0") or f_fh() then frag = 1 end
  io.write("@@F\t", pinfo.number, "\t", pinfo.len, "\t", pinfo.caplen, "\t", t.secs, "\t", t.nsecs, "\t",
           protos, "\t", table.concat(all(f_vlan), ","), "\t", first, "\t", frag, "\t",
           (f_malformed() and 1 or 0), "\n")
end

local tcp = Listener.new("tcp", nil, false)
function tcp.packet(pinfo, tvb, h)
  io.write("@@T\t", pinfo.number, "\t", h.th_stream, "\t", tostring(h.ip_src), "\t", h.th_sport, "\t",
           tostring(h.ip_dst), "\t", h.th_dport, "\t", h.th_flags, "\t", h.th_rawseq, "\n")
end

local udp = Listener.new("udp", nil, false)
function udp.packet(pinfo, tvb, h)
  io.write("@@U\t", pinfo.number, "\t", h.uh_stream, "\t", tostring(h.ip_src), "\t", h.uh_sport, "\t",
           tostring(h.ip_dst), "\t", h.uh_dport, "\n")
end
"""

_ROW = re.compile(
    r"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+"
    r"(?P<rx_f>\d+)\s+(?P<rx_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<tx_f>\d+)\s+(?P<tx_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<tot_f>\d+)\s+(?P<tot_b>\d+ (?:bytes|[kMGTP]B))\s+"
    r"(?P<start>-?\d+\.\d+)\s+(?P<dur>-?\d+\.\d+)\s*$")


def _endpoint(text: str) -> Endpoint:
    addr, _, port = text.rpartition(":")
    return (str(ipaddress.ip_address(addr)), int(port))


def _first_ip(text: str):
    src, _, dst = text.partition(",")
    try:
        return (str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)))
    except ValueError:
        return None  # no IP header, or one tshark could not read


def run_tshark(pcap_path, tshark: str = "tshark"):
    """(printed rows, frames by number, tap events, stderr warnings)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(_LUA)
    try:
        cmd = [tshark, *tshark_options(tshark), "-q", "-X", f"lua_script:{lua.name}",
               "-z", "conv,tcp", "-z", "conv,udp", "-r", str(pcap_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        os.unlink(lua.name)
    warnings = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("Running as user")]
    # 2: the file is damaged or cut short; what was read is still reported.
    if proc.returncode not in (0, 2) or "Conversations" not in proc.stdout:
        raise RuntimeError(f"tshark -r {pcap_path} failed ({proc.returncode}): {' '.join(warnings)}")

    rows, frames, events, proto = [], {}, [], None
    for line in proc.stdout.splitlines():
        if line.startswith("@@F\t"):
            _, num, length, cap, secs, nsecs, protos, vlans, first, frag, mal = line.split("\t")
            frames[int(num)] = Frame(
                number=int(num), epoch_ns=int(secs) * 1_000_000_000 + int(nsecs), length=int(length),
                cap_len=int(cap), protocols=protos.split(":"), vlan_ids=[int(v) for v in vlans.split(",") if v],
                first_ip=_first_ip(first),
                fragment=frag == "1", malformed=mal == "1")
        elif line.startswith("@@T\t"):
            _, num, stream, src, sport, dst, dport, flags, seq = line.split("\t")
            events.append(TapEvent("tcp", int(num), int(stream), (str(ipaddress.ip_address(src)), int(sport)),
                                   (str(ipaddress.ip_address(dst)), int(dport)), int(flags), int(seq)))
        elif line.startswith("@@U\t"):
            _, num, stream, src, sport, dst, dport = line.split("\t")
            events.append(TapEvent("udp", int(num), int(stream), (str(ipaddress.ip_address(src)), int(sport)),
                                   (str(ipaddress.ip_address(dst)), int(dport))))
        elif line.startswith("TCP Conversations"):
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
    return rows, frames, events, warnings


def conversations(pcap_path, tshark: str = "tshark") -> ConversationTable:
    """tshark's TCP and UDP conversations of a capture, keyed by
    canonical_key(), with exact bytes; checked against the printed table."""
    rows, frames, events, warnings = run_tshark(pcap_path, tshark)

    streams: dict[tuple, list] = defaultdict(list)   # (proto, stream) -> events
    for e in events:
        streams[(e.proto, e.stream)].append(e)
    by_key_streams = defaultdict(list)
    for evs in streams.values():
        e0 = evs[0]
        by_key_streams[canonical_key(e0.proto, *e0.src, *e0.dst)].append(evs)
    by_key_rows = defaultdict(list)
    for r in rows:
        by_key_rows[canonical_key(r["proto"], *r["a"], *r["b"])].append(r)

    table = ConversationTable()
    table.warnings, table.frames, table.events = warnings, frames, events
    problems = []
    for key, krows in by_key_rows.items():
        krows.sort(key=lambda r: float(r["start_text"]))
        kstreams = sorted(by_key_streams.get(key, []), key=lambda evs: (frames[evs[0].frame].epoch_ns, evs[0].frame))
        if len(kstreams) != len(krows):
            problems.append(f"{key}: {len(krows)} printed conversations, {len(kstreams)} tapped streams")
            continue
        for r, evs in zip(krows, kstreams):
            sent = defaultdict(lambda: [0, 0])
            for e in evs:
                sent[e.src][0] += 1
                sent[e.src][1] += frames[e.frame].length
            (a_pk, a_by), (b_pk, b_by) = sent.get(r["a"], [0, 0]), sent.get(r["b"], [0, 0])
            conv = Conversation(
                proto=r["proto"], a=r["a"], b=r["b"],
                a_to_b_packets=r["a_to_b_packets"], a_to_b_bytes=a_by,
                b_to_a_packets=r["b_to_a_packets"], b_to_a_bytes=b_by,
                start=float(r["start_text"]), duration=float(r["duration_text"]),
                start_text=r["start_text"], duration_text=r["duration_text"], stream=evs[0].stream,
                first_ns=min(frames[e.frame].epoch_ns for e in evs),
                last_ns=max(frames[e.frame].epoch_ns for e in evs), events=evs)
            if (a_pk, b_pk) != (r["a_to_b_packets"], r["b_to_a_packets"]):
                problems.append(f"{key} stream {conv.stream}: tapped frames {a_pk}/{b_pk}, printed "
                                f"{r['a_to_b_packets']}/{r['b_to_a_packets']}")
            if (format_size(a_by), format_size(b_by)) != (r["a_to_b_bytes_text"], r["b_to_a_bytes_text"]):
                problems.append(f"{key} stream {conv.stream}: tapped bytes {a_by}/{b_by}, printed "
                                f"{r['a_to_b_bytes_text']}/{r['b_to_a_bytes_text']}")
            table.setdefault(key, []).append(conv)
    for key in by_key_streams.keys() - by_key_rows.keys():
        problems.append(f"{key}: tapped frames but no printed conversation")
    if problems:
        raise RuntimeError(f"{pcap_path}: tshark's table and its taps disagree:\n  " + "\n  ".join(problems[:20]))
    return table


def _outer(frame: Frame, e: TapEvent) -> bool:
    """Whether an outer-header parser reads this TCP/UDP header: Ethernet, at
    most OUTER_MAX_VLAN_TAGS tags, the frame's first IP header (at most
    OUTER_MAX_IPV6_EXT_HEADERS extension headers), then this header."""
    p = frame.protocols
    i = 1 if p and p[0] == "eth" else None
    if i is None:
        return False
    tags = 0
    while i < len(p) and p[i] in ("ethertype", "vlan"):
        tags += p[i] == "vlan"
        i += 1
    if tags > OUTER_MAX_VLAN_TAGS or i >= len(p) or p[i] not in ("ip", "ipv6"):
        return False
    i += 1
    ext = 0
    while i < len(p) and p[i] in ("ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah"):
        ext += 1
        i += 1
    return (ext <= OUTER_MAX_IPV6_EXT_HEADERS and i < len(p) and p[i] == e.proto
            and frame.first_ip == (e.src[0], e.dst[0]))


def oddities(table: ConversationTable) -> dict:
    """Key -> sorted flags, for the 5-tuples where a flow meter that reads only
    the outer headers and keys flows by 5-tuple + outer VLAN id would not
    reproduce tshark's numbers, or only with care:
      inner       some counted headers are not the frame's outer IP/L4 headers
                  (a tunnel tshark still dissects, too many VLAN tags, LLC...)
      vlan_split  the frames carry different outer VLAN ids (one conversation
                  for tshark, several flows for the meter)
      truncated   some frames were captured shorter than their length (tshark
                  counts the original length)
      fragments   IP fragments: only the first of each datagram is counted
      port_reuse  tshark split the 5-tuple into several conversations
      malformed   tshark found some frame malformed (it counted it anyway)
    """
    result = {}
    for key, convs in table.items():
        flags = set()
        if len(convs) > 1:
            flags.add("port_reuse")
        vlans = set()
        for c in convs:
            for e in c.events:
                f = table.frames[e.frame]
                if not _outer(f, e):
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
    from collections import Counter

    for path in sys.argv[1:]:
        t = conversations(path)
        odd = oddities(t)
        kinds = Counter(c.proto for c in t.all())
        print(f"{path}: {kinds['tcp']} TCP + {kinds['udp']} UDP conversations, "
              f"{sum(c.packets for c in t.all())} of {len(t.frames)} frames counted, {len(odd)} 5-tuples with oddities "
              f"{dict(Counter(f for fl in odd.values() for f in fl))}")
        for w in t.warnings:
            print(f"  tshark: {w}")
