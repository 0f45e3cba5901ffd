"""tshark's TCP and UDP conversation statistics of a capture, the reference
for per-5-tuple comparisons with sniffer's flow records.

What tshark 4.0 counts in `tshark -q -z conv,tcp -z conv,udp` (checked on every
capture under ../shared/pcaps):

- One count per TCP or UDP header that the TCP/UDP dissector hands to its tap,
  keyed by the addresses of the IP header right before that header, the two
  ports and the stream index. TCP: a SYN without ACK whose sequence number
  differs from the conversation's first SYN starts a new conversation on the
  same 5-tuple ("port reuse"), whatever state the old one was in; a repeated
  SYN with the same sequence number stays in it, even after a RST. Nothing
  ends on a timeout. VLAN tags are not part of the key. (With application
  dissectors on, their wildcard conversations can also split a UDP 5-tuple;
  the options below switch them off.)
- Per direction ("A->B" is tshark's "->" column, "B->A" its "<-"): frames, and
  bytes = the sum of frame.len, the original length in the capture record:
  from the Ethernet header on, VLAN tags and Ethernet padding included, an FCS
  only if the capture holds one, and a frame cut by the snap length with its
  original length. tshark 4.0 prints bytes rounded down to kB from 10,000 on,
  so this module takes the exact numbers from tshark's own taps (a Lua
  listener on the "tcp" and "udp" taps, the ones the table is built from) and
  checks them against the printed table.
- Relative start: the conversation's first frame, in seconds after the
  capture's first frame (of any protocol), printed "%.9f". Duration: the
  latest minus the earliest frame, each converted to a double first, printed
  "%.4f" (0.1 ms, and a half-way value may round either way: tshark_times()
  reproduces the text exactly). first_ns/last_ns are the exact epoch times.
- Not counted: TCP/UDP headers quoted in ICMP errors, IP fragments after the
  first (reassembly off), TCP segments whose header (options included) was cut
  by the snap length, headers tshark cannot read.

Options (tshark_options()), so that tshark counts what a parser of the outer
headers (Ethernet, VLAN tags, IPv4/IPv6 with extension headers, TCP/UDP) sees:
- Every protocol disabled but ENABLED_PROTOCOLS, and IP protocols 4 and 41
  (IP in IP) decoded as data: tunnels (GRE, ERSPAN, VXLAN, Geneve, GTP, L2TP,
  Teredo...), MPLS, PPPoE, LLC/SNAP and ICMP payloads are not dissected, so
  their inner conversations are not counted; the outer UDP header of a UDP
  tunnel is. (tshark 4.0 has no --only-protocols; --disable-protocol takes one
  name per option, silently ignores unknown names, and ALL does not work.)
- IP reassembly off (ip.defragment, ipv6.defragment). With it on, a fragmented
  datagram counts once, on its last fragment, with that frame's length only;
  with it off, the first fragment carries the ports and counts like any
  packet, and the later fragments count nowhere.
- -n (no name resolution), no TCP reassembly (changes no count).
What no option changes: more VLAN tags than the outer-header parser reads,
IPv6 chains of more extension headers than it walks, and truncated frames.
oddities() flags them per 5-tuple.

Usage:
    table = conversations("tests/data/pcaps/web/http_bro_org.pcap")
    for key, convs in table.items():   # ("tcp", ("10.0.2.15", 55080), ("192.150.187.43", 80))
        for c in convs:                # usually one; several after TCP port reuse
            c.direction(("10.0.2.15", 55080))   # {"src", "dst", "packets", "bytes"}
    totals(table)                      # per 5-tuple, port-reuse splits summed
    python3 tshark_conv.py FILE...     # a summary per capture
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
    a = (*_addr(addr1), int(port1))
    b = (*_addr(addr2), int(port2))
    lo, hi = (a, b) if a[1:] <= b[1:] else (b, a)
    return (proto, (lo[0], lo[3]), (hi[0], hi[3]))


@functools.lru_cache(maxsize=1 << 16)
def _addr(addr) -> tuple:
    """(compressed text, version, integer value) of an address in any text form
    or as 4/16 raw bytes."""
    if isinstance(addr, str) and addr.count(".") == 3 and ":" not in addr:
        parts = addr.split(".")
        if all(p.isdigit() and len(p) <= 3 and (p == "0" or p[0] != "0") and int(p) < 256 for p in parts):
            v = 0
            for p in parts:
                v = v * 256 + int(p)
            return (addr, 4, v)  # already canonical dotted decimal
    ip = ipaddress.ip_address(bytes(addr) if isinstance(addr, (bytes, bytearray)) else addr)
    return (str(ip), ip.version, int(ip))


def _ip_text(addr) -> str:
    return _addr(addr)[0]


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
    ports: tuple = None      # (src, dst) of the frame's first TCP/UDP header, if tshark read them


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
        src = (_ip_text(src[0]), int(src[1]))
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
    (every frame, by number), `events` (every counted TCP/UDP header) and
    `capture_first_ns`."""

    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []
        self.frames: dict[int, Frame] = {}
        self.events: list[TapEvent] = []
        self.capture_first_ns = 0  # epoch ns of the capture's first frame (tshark's time reference)

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
local f_tcp_sport = Field.new("tcp.srcport")
local f_tcp_dport = Field.new("tcp.dstport")
local f_udp_sport = Field.new("udp.srcport")
local f_udp_dport = Field.new("udp.dstport")

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
  local ports = ""
  local ts, us = protos:find(":tcp"), protos:find(":udp")
  if ts and (not us or ts < us) then
    ports = (all(f_tcp_sport)[1] or "") .. "," .. (all(f_tcp_dport)[1] or "")
  elseif us then
    ports = (all(f_udp_sport)[1] or "") .. "," .. (all(f_udp_dport)[1] or "")
  end
  io.write("@@F\t", pinfo.number, "\t", pinfo.len, "\t", pinfo.caplen, "\t", t.secs, "\t", t.nsecs, "\t",
           protos, "\t", table.concat(all(f_vlan), ","), "\t", first, "\t", frag, "\t",
           (f_malformed() and 1 or 0), "\t", ports, "\n")
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
    return (_ip_text(addr), int(port))


def _ports(text: str):
    sport, _, dport = text.partition(",")
    return (int(sport), int(dport)) if sport.isdigit() and dport.isdigit() else None


def _first_ip(text: str):
    src, _, dst = text.partition(",")
    try:
        return (_ip_text(src), _ip_text(dst))
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
            _, num, length, cap, secs, nsecs, protos, vlans, first, frag, mal, ports = line.split("\t")
            frames[int(num)] = Frame(
                number=int(num), epoch_ns=int(secs) * 1_000_000_000 + int(nsecs), length=int(length),
                cap_len=int(cap), protocols=protos.split(":"), vlan_ids=[int(v) for v in vlans.split(",") if v],
                first_ip=_first_ip(first),
                fragment=frag == "1", malformed=mal == "1", ports=_ports(ports))
        elif line.startswith("@@T\t"):
            _, num, stream, src, sport, dst, dport, flags, seq = line.split("\t")
            events.append(TapEvent("tcp", int(num), int(stream), (_ip_text(src), int(sport)),
                                   (_ip_text(dst), int(dport)), int(flags), int(seq)))
        elif line.startswith("@@U\t"):
            _, num, stream, src, sport, dst, dport = line.split("\t")
            events.append(TapEvent("udp", int(num), int(stream), (_ip_text(src), int(sport)),
                                   (_ip_text(dst), int(dport))))
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
    table.capture_first_ns = frames[min(frames)].epoch_ns if frames else 0
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


def _nstime_to_sec(ns: int, ref_ns: int) -> float:
    """tshark's nstime_delta() then nstime_to_sec(): seconds of ns - ref_ns as
    a double built from separate seconds and nanoseconds."""
    bs, bn = divmod(ns, 1_000_000_000)
    rs, rn = divmod(ref_ns, 1_000_000_000)
    secs, nsecs = bs - rs, bn - rn
    if secs > 0 and nsecs < 0:
        secs, nsecs = secs - 1, nsecs + 1_000_000_000
    elif secs < 0 and nsecs > 0:
        secs, nsecs = secs + 1, nsecs - 1_000_000_000
    return float(secs) + float(nsecs) / 1e9


def tshark_times(first_ns: int, last_ns: int, capture_first_ns: int) -> tuple[str, str]:
    """The (start, duration) texts tshark prints for a conversation whose first
    and last frames are at first_ns and last_ns (epoch ns) in a capture whose
    first frame is at capture_first_ns: e.g. for a flow record's start_ns and
    end_ns. Reproduces every printed value of ../shared/pcaps."""
    start = _nstime_to_sec(first_ns, capture_first_ns)
    stop = _nstime_to_sec(last_ns, capture_first_ns)
    return f"{start:.9f}", f"{stop - start:.4f}"


def totals(table: ConversationTable) -> dict:
    """Key -> {"packets": {endpoint: n}, "bytes": {endpoint: n}, "first_ns",
    "last_ns", "conversations": n}: a 5-tuple's conversations summed (port
    reuse undone), for comparing with flow records summed per 5-tuple."""
    out = {}
    for key, convs in table.items():
        ends = (key[1], key[2])
        t = {"packets": {e: 0 for e in ends}, "bytes": {e: 0 for e in ends},
             "first_ns": min(c.first_ns for c in convs), "last_ns": max(c.last_ns for c in convs),
             "conversations": len(convs)}
        for c in convs:
            for e in ends:
                d = c.direction(e)
                t["packets"][e] += d["packets"]
                t["bytes"][e] += d["bytes"]
        out[key] = t
    return out


def outer_l4(frame: Frame):
    """(proto, src endpoint, dst endpoint) of the TCP/UDP header an outer-header
    parser reads in this frame: Ethernet, at most OUTER_MAX_VLAN_TAGS tags, the
    first IP header (at most OUTER_MAX_IPV6_EXT_HEADERS extension headers), then
    TCP or UDP. None when it reads none."""
    p = frame.protocols
    if not p or p[0] != "eth" or frame.first_ip is None or frame.ports is None:
        return None
    i, tags = 1, 0
    while i < len(p) and p[i] in ("ethertype", "vlan", "ieee8021ad"):
        tags += p[i] != "ethertype"
        i += 1
    if tags > OUTER_MAX_VLAN_TAGS or i >= len(p) or p[i] not in ("ip", "ipv6"):
        return None
    i += 1
    ext = 0
    while i < len(p) and p[i] in ("ipv6.hopopts", "ipv6.routing", "ipv6.fraghdr", "ipv6.dstopts", "ah"):
        ext += 1
        i += 1
    if ext > OUTER_MAX_IPV6_EXT_HEADERS or i >= len(p) or p[i] not in ("tcp", "udp"):
        return None
    return (p[i], (frame.first_ip[0], frame.ports[0]), (frame.first_ip[1], frame.ports[1]))


def _outer(frame: Frame, e: TapEvent) -> bool:
    return outer_l4(frame) == (e.proto, e.src, e.dst)


def _syn_after_close(events) -> bool:
    """Whether a SYN without ACK follows a RST or FINs from both sides."""
    fins, closed = set(), False
    for e in events:
        if closed and e.tcp_flags & 0x12 == 0x02:
            return True
        if e.tcp_flags & 0x04:
            closed = True
        if e.tcp_flags & 0x01:
            fins.add(e.src)
            closed = closed or len(fins) == 2
    return False


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
      uncounted   frames whose outer TCP/UDP header a parser reads but tshark
                  did not count (e.g. TCP options cut by the snap length)
      syn_after_close  a SYN without ACK after the conversation closed (a RST,
                  or FINs from both sides): tshark keeps it in the conversation
                  when its sequence number repeats the first SYN's (a client
                  retrying a refused connection); Zeek and sniffer start a new
                  connection there
    """
    result = {}
    tapped = {e.frame for e in table.events}
    for f in table.frames.values():
        l4 = outer_l4(f)
        if l4 and f.number not in tapped:
            result.setdefault(canonical_key(l4[0], *l4[1], *l4[2]), set()).add("uncounted")
    for key, convs in table.items():
        flags = result.pop(key, set())
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
        if key[0] == "tcp" and any(_syn_after_close(c.events) for c in convs):
            flags.add("syn_after_close")
        if flags:
            result[key] = sorted(flags)
    return {k: sorted(v) for k, v in result.items()}


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
