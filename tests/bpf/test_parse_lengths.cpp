// bpf tier, parse: frames cut short, length fields the frame contradicts,
// and fragments. Every such frame passes and yields a record, flagged.
#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

constexpr std::uint64_t kCut = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;
// A record and, flagged or not, the parse error counter.
const CounterDeltas kFlagged{{SNIFFER_STAT_RECORDS, 1}, {SNIFFER_STAT_PARSE_ERROR, 1}};
const CounterDeltas kClean{{SNIFFER_STAT_RECORDS, 1}, {SNIFFER_STAT_PARSE_ERROR, 0}};
// A fragment splitting the transport header: a parse error of its own kind.
const CounterDeltas kSplit{{SNIFFER_STAT_RECORDS, 1}, {SNIFFER_STAT_PARSE_ERROR, 1}, {SNIFFER_STAT_SPLIT_L4_FRAGMENT, 1}};

TEST_F(ProgramsTest, TruncatedHeadersAreFlaggedCountedAndPassed) {
  load();
  configure(Mode::Gateway, Role::Wan);
  const Frame tcp = Frame{}.ipv4({.src = "198.51.100.10", .dst = "192.0.2.10"}).tcp({.sport = 1, .dport = 2});
  check({
      {.description = "cut inside the IPv4 header: IP version known, no addresses",
       .frame = Frame(tcp).cut(14 + 10),
       .record = RecordFields{.ip_version = 4, .sport = 0, .parse_flags = SNIFFER_PARSE_TRUNCATED},
       .counters = kFlagged},
      {.description = "cut inside the TCP header after its ports (as tshark reads them), the flags not",
       .frame = Frame(tcp).cut(14 + 20 + 10),
       .record = RecordFields{.l4_proto = 6, .sport = 1, .dport = 2, .l4_hdr_len = 0, .parse_flags = kCut,
                              .saddr = "198.51.100.10"},
       .counters = kFlagged},
      {.description = "a TCP data offset beyond the packet",
       .frame = Frame{}.ipv4().tcp({.sport = 1, .dport = 2, .forged_doff = 15}),
       .record = RecordFields{.sport = 1, .l4_hdr_len = 60, .parse_flags = SNIFFER_PARSE_TRUNCATED},
       .counters = kFlagged},
      {.description = "IHL below 5",
       .frame = Frame{}.ipv4({.forged_version_ihl = 0x44}).tcp({.sport = 1, .dport = 2}),
       .record = RecordFields{.parse_flags = SNIFFER_PARSE_MALFORMED},
       .counters = kFlagged},
      // The kernel refuses test frames shorter than an Ethernet header.
      {.description = "an Ethernet header announcing IPv4 and nothing after it",
       .frame = Frame(tcp).cut(14),
       .record = RecordFields{.wire_len = 14, .ip_version = 4, .parse_flags = SNIFFER_PARSE_TRUNCATED},
       .counters = kFlagged},
  });
}

TEST_F(ProgramsTest, EveryCutOfAFrameIsPassedCountedAndFlagged) {
  // Each frame cut at every length from the Ethernet header on: every cut
  // passes and yields one record; a cut inside any header (VLAN tags, IPv4,
  // IPv6 and its extension headers, TCP, UDP, ICMP, ICMPv6) is flagged
  // truncated, a cut in the payload is flagged as a length the frame
  // contradicts, and the whole frame is clean.
  load();
  configure(Mode::Gateway, Role::Wan);
  struct Case {
    const char* name;
    Bytes frame;
    std::size_t headers_end;
  };
  const std::vector<Case> cases{
      {"QinQ IPv4 TCP",
       Frame{}.vlan(100, 0x88a8).vlan(200).ipv4().tcp({.sport = 1, .dport = 2, .payload = "data"}), 14 + 8 + 20 + 20},
      {"IPv6 hop-by-hop, destination options, UDP",
       Frame{}.ipv6({.ext = {0, 60}}).udp({.sport = 3, .dport = 4, .payload = "q"}), 14 + 40 + 16 + 8},
      {"IPv4 ICMP", Frame{}.ipv4().icmp({.payload = "ping"}), 14 + 20 + 8},
      {"IPv6 ICMPv6", Frame{}.ipv6().icmp6({.type = 128, .payload = "p"}), 14 + 40 + 8},
  };
  for (const Case& c : cases) {
    for (std::size_t len = 14; len <= c.frame.size(); ++len) {
      const bool whole = len == c.frame.size();
      check(Row{.description = std::string(c.name) + " cut at " + std::to_string(len),
                .frame = Bytes(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(len)),
                .record = RecordFields{.wire_len = len},
                .counters = whole ? kClean : kFlagged});
      ASSERT_EQ(records_.size(), 1u);
      const std::uint8_t flags = records_[0].header.parse_flags;
      if (len < c.headers_end)
        EXPECT_TRUE(flags & SNIFFER_PARSE_TRUNCATED) << c.name << " cut at " << len << ": flags " << int(flags);
      else if (!whole)
        EXPECT_EQ(flags, SNIFFER_PARSE_BAD_LENGTH) << c.name << " cut at " << len;
      else
        EXPECT_EQ(flags, 0) << c.name << " whole";
    }
  }
}

TEST_F(ProgramsTest, HeadersCutByTheSnapLengthKeepTheirPorts) {
  // Captures with a snap length of 64 or 68 bytes cut the TCP header of
  // IPv6 segments: the ports are in its first 4 bytes (tshark reads them),
  // the flags only when byte 13 was captured, never any payload.
  load();
  configure(Mode::Gateway, Role::Wan);
  const Frame tcp = Frame{}
                        .ipv6({.src = "2001:db8::22", .dst = "2001:db8::99"})
                        .tcp({.sport = 22, .dport = 50123, .flags = kPsh | kAck, .window = 501, .doff = 8,
                              .payload = std::string(100, 'x')});
  check({
      {.description = "10 bytes of TCP: ports and sequence number, no data offset",
       .frame = Frame(tcp).cut(64),
       .record = RecordFields{.tcp_flags = 0, .sport = 22, .dport = 50123, .l4_hdr_len = 0,
                              .ip_total_len = 40 + 32 + 100 /* the datagram's own length */, .parse_flags = kCut,
                              .payload_offset = 0, .tcp_seq = 1000}},
      {.description = "14 bytes: data offset and flags, no window",
       .frame = Frame(tcp).cut(68),
       .record = RecordFields{.tcp_flags = 0x18, .sport = 22, .tcp_window = 0, .l4_hdr_len = 32,
                              .parse_flags = kCut, .payload_offset = 0}},
      {.description = "3 bytes: no ports",
       .frame = Frame(tcp).cut(14 + 40 + 3),
       .record = RecordFields{.sport = 0, .dport = 0, .parse_flags = SNIFFER_PARSE_TRUNCATED}},
      {.description = "the fixed header whole, options cut",
       .frame = Frame(tcp).cut(14 + 40 + 24),
       .record = RecordFields{.tcp_window = 501, .l4_hdr_len = 32, .parse_flags = SNIFFER_PARSE_TRUNCATED}},
      {.description = "UDP cut after its ports (IPv4, 6 bytes of UDP)",
       .frame = Frame{}.ipv4().udp({.sport = 5353, .dport = 53, .payload = "query"}).cut(14 + 20 + 6),
       .record = RecordFields{.sport = 5353, .dport = 53, .l4_hdr_len = 0, .parse_flags = kCut,
                              .payload_offset = 0}},
  });
}

TEST_F(ProgramsTest, Ipv4TotalLengthZeroTakesTheFramesLength) {
  // Captured on a host with TCP segmentation offload: the stack leaves the
  // IPv4 total length 0 for the NIC to fill in. The frame's length stands
  // in for it (flagged), so the segment's payload counts.
  load({.payload_bytes = 16});
  configure(Mode::Gateway, Role::Wan);
  const TcpFields tcp{.sport = 389, .dport = 40000, .flags = kPsh | kAck, .window = 300,
                      .payload = std::string(1800, 'l')};
  const Ipv4Fields tso{.src = "192.0.2.10", .dst = "198.51.100.10", .forged_total_len = 0};
  check({
      {.description = "total length 0",
       .frame = Frame{}.ipv4(tso).tcp(tcp),
       .record = RecordFields{.tcp_flags = 0x18, .sport = 389, .ip_total_len = 20 + 20 + 1800,
                              .parse_flags = SNIFFER_PARSE_IP_LEN_FROM_FRAME, .payload_offset = 14 + 20 + 20,
                              .snippet_len = 16, .snippet = std::string(16, 'l')},
       .counters = kFlagged},
      {.description = "behind a VLAN tag, the length starts after the tag",
       .frame = Frame{}.vlan(7).ipv4(tso).tcp(tcp),
       .record = RecordFields{.ip_total_len = 20 + 20 + 1800},
       .counters = kFlagged},
  });
}

TEST_F(ProgramsTest, IpLengthFieldsTheFrameContradictsAreFlagged) {
  load();
  configure(Mode::Gateway, Role::Wan);
  const UdpFields udp{.sport = 53, .dport = 5353, .payload = "answer"};
  check({
      {.description = "IPv4 total length beyond the frame: ports still parsed, length flagged",
       .frame = Frame{}.ipv4({.forged_total_len = 1500}).udp(udp),
       .record = RecordFields{.sport = 53, .ip_total_len = 1500, .parse_flags = SNIFFER_PARSE_BAD_LENGTH},
       .counters = kFlagged},
      {.description = "IPv6 payload length beyond the frame",
       .frame = Frame{}.ipv6({.forged_payload_len = 4000}).udp(udp),
       .record = RecordFields{.dport = 5353, .parse_flags = SNIFFER_PARSE_BAD_LENGTH},
       .counters = kFlagged},
      // No bound from the length: parsed as far as the frame goes.
      {.description = "IPv6 payload length 0 without a hop-by-hop header: no jumbogram, bogus",
       .frame = Frame{}.ipv6({.forged_payload_len = 0}).udp(udp),
       .record = RecordFields{.sport = 53, .parse_flags = SNIFFER_PARSE_BAD_LENGTH},
       .counters = kFlagged},
      {.description = "payload length 0 behind a hop-by-hop header may be a jumbogram (RFC 2675)",
       .frame = Frame{}.ipv6({.ext = {0}, .forged_payload_len = 0}).udp(udp),
       .record = RecordFields{.parse_flags = 0},
       .counters = kClean},
      {.description = "a length shorter than the frame is Ethernet padding, not payload",
       .frame = Frame{}.ipv4().tcp({.sport = 1, .dport = 2}).pad_to(60),
       .record = RecordFields{.wire_len = 60, .ip_total_len = 40, .parse_flags = 0},
       .counters = kClean},
  });
}

TEST_F(ProgramsTest, TinyAndOverlappingFragmentsAreRecordedAsTheyCome) {
  // The sensor does not reassemble: each fragment is a record with its
  // offset and flags, so a detector sees overlaps and tiny fragments.
  load();
  configure(Mode::Gateway, Role::Wan);
  check({
      // RFC 1858: 8 bytes of TCP, the flags are in the next fragment. The
      // parser must not read the padding as the rest of the TCP header.
      {.description = "a tiny first fragment padded to the Ethernet minimum",
       .frame = Frame{}
                    .ipv4({.frag_field = 0x2000, .forged_total_len = 20 + 8})
                    .tcp({.sport = 4444, .dport = 22})
                    .cut(14 + 20 + 8)
                    .pad_to(60),
       .record = RecordFields{.l4_proto = 6, .tcp_flags = 0 /* not the padding's zeros: cleared */, .sport = 4444,
                              .dport = 22, .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF,
                              .parse_flags = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_SPLIT_L4, .payload_offset = 0},
       .counters = kSplit},
      // Two fragments of one datagram overlapping at offset 8: the overlap
      // is visible in their offsets and lengths.
      {.description = "first fragment, covering bytes [0, 32)",
       .frame = Frame{}
                    .ipv4({.frag_field = 0x2000, .id = 77})
                    .udp({.sport = 1, .dport = 2, .payload = std::string(24, 'a')}),
       .record = RecordFields{.l3_hdr_len = 20, .ip_total_len = 20 + 8 + 24, .frag_offset = 0, .frag_id = 77},
       .counters = kClean},
      {.description = "a fragment starting inside it, at 8",
       .frame = Frame{}.ipv4({.frag_field = 0x0001, .id = 77}).raw({.proto = 17, .payload = std::string(16, 'b')}),
       .record = RecordFields{.l4_proto = 17, .frag_offset = 8,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST, .parse_flags = 0,
                              .frag_id = 77},
       .counters = kClean},
      {.description = "IPv6: a first fragment too short for the UDP header",
       .frame = Frame{}
                    .ipv6({.ext = {44}, .more_fragments = true, .forged_payload_len = 8 + 4})
                    .udp({.sport = 9, .dport = 9})
                    .cut(14 + 40 + 8 + 4),
       .record = RecordFields{.sport = 9 /* its 4 bytes hold the ports */, .l4_hdr_len = 0,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF,
                              .parse_flags = kCut | SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
  });
}

TEST_F(ProgramsTest, FragmentsSplittingTheTransportHeaderAreFlaggedAndCounted) {
  // RFC 1858 (the red team's F12): a SYN whose first fragment holds 8 bytes
  // of TCP (the ports) and whose flags come in the next one, at offset 8, is
  // reassembled by the victim; the sensor cannot reassemble, so it marks both
  // fragments SNIFFER_PARSE_SPLIT_L4 and counts them. Whole headers are not.
  load();
  configure(Mode::Gateway, Role::Wan);
  const TcpFields syn{.sport = 40000, .dport = 22, .flags = kSyn};
  const Ipv4Fields first{.frag_field = 0x2000, .id = 9, .forged_total_len = 20 + 8};
  check({
      {.description = "IPv4: 8 bytes of TCP in a first fragment, as a veth delivers it (no padding)",
       .frame = Frame{}.ipv4(first).tcp(syn).cut(14 + 20 + 8),
       .record = RecordFields{.l4_proto = 6, .tcp_flags = 0, .sport = 40000, .dport = 22,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF,
                              .parse_flags = kCut | SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv4: its second fragment at offset 8 (the flags)",
       .frame = Frame{}.ipv4({.frag_field = 0x0001, .id = 9}).raw({.proto = 6, .payload = std::string(12, 'f')}),
       .record = RecordFields{.l4_proto = 6, .sport = 0, .frag_offset = 8,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST,
                              .parse_flags = SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv4: a TCP fragment at offset 16, still inside the fixed header",
       .frame = Frame{}.ipv4({.frag_field = 0x0002, .id = 9}).raw({.proto = 6, .payload = std::string(8, 'f')}),
       .record = RecordFields{.frag_offset = 16, .parse_flags = SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv4: a first fragment with the whole TCP header is not split",
       .frame = Frame{}.ipv4({.frag_field = 0x2000}).tcp({.sport = 1, .dport = 2, .payload = "abcdefgh"}),
       .record = RecordFields{.tcp_flags = kSyn, .sport = 1, .parse_flags = 0},
       .counters = {{SNIFFER_STAT_PARSE_ERROR, 0}, {SNIFFER_STAT_SPLIT_L4_FRAGMENT, 0}}},
      {.description = "IPv4: a later TCP fragment at offset 24 (past the fixed header) is not split",
       .frame = Frame{}.ipv4({.frag_field = 0x0003}).raw({.proto = 6, .payload = std::string(8, 'f')}),
       .record = RecordFields{.frag_offset = 24, .parse_flags = 0},
       .counters = {{SNIFFER_STAT_PARSE_ERROR, 0}, {SNIFFER_STAT_SPLIT_L4_FRAGMENT, 0}}},
      {.description = "IPv4: a UDP fragment at offset 8 is not (the header is 8 bytes)",
       .frame = Frame{}.ipv4({.frag_field = 0x0001}).raw({.proto = 17, .payload = std::string(8, 'f')}),
       .record = RecordFields{.frag_offset = 8, .parse_flags = 0},
       .counters = {{SNIFFER_STAT_SPLIT_L4_FRAGMENT, 0}}},
      {.description = "IPv6: 8 bytes of TCP in a first fragment",
       .frame = Frame{}
                    .ipv6({.ext = {44}, .more_fragments = true, .forged_payload_len = 8 + 8})
                    .tcp(syn)
                    .cut(14 + 40 + 8 + 8),
       .record = RecordFields{.l4_proto = 6, .tcp_flags = 0, .sport = 40000,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF,
                              .parse_flags = kCut | SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv6: a TCP fragment at offset 8",
       .frame = Frame{}.ipv6({.ext = {44}, .frag_offset = 8}).tcp(syn),
       .record = RecordFields{.l4_proto = 6, .sport = 0, .frag_offset = 8,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST,
                              .parse_flags = SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv6: a first fragment that ends inside the extension chain",
       .frame = Frame{}
                    .ipv6({.ext = {44, 60}, .more_fragments = true, .forged_payload_len = 8 + 1})
                    .udp({.sport = 9, .dport = 9})
                    .cut(14 + 40 + 8 + 1),
       .record = RecordFields{.l4_proto = 0, .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF,
                              .parse_flags = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_SPLIT_L4},
       .counters = kSplit},
      {.description = "IPv6: a whole first fragment is not split",
       .frame = Frame{}.ipv6({.ext = {44}, .more_fragments = true}).tcp({.sport = 1, .dport = 2}),
       .record = RecordFields{.tcp_flags = kSyn, .sport = 1, .parse_flags = 0},
       .counters = {{SNIFFER_STAT_SPLIT_L4_FRAGMENT, 0}}},
  });
}

}  // namespace
}  // namespace sniffer::test
