// bpf tier, parse: what the parser reads from well-formed headers (Ethernet,
// VLAN tags, MPLS labels, IPv4, IPv6 and its extension headers, TCP, UDP,
// ICMP) into the packet record, and the protocol class it is counted under.
#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

constexpr int kXdpTcp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP);
constexpr int kXdpUdp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);
constexpr int kXdpIcmp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_ICMP);
constexpr int kXdpOther = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_OTHER);

TEST_F(ProgramsTest, Ipv4TcpRecordCarriesEveryHeaderField) {
  load();
  configure(Mode::Gateway, Role::Wan);
  const Bytes frame = Frame{}
                          .ipv4({.src = "198.51.100.10", .dst = "192.0.2.10", .ttl = 63, .ihl = 6})
                          .tcp({.sport = 40000, .dport = 443, .flags = kSyn | kAck, .window = 29200, .doff = 8,
                                .payload = "hello"});
  check(Row{
      .description = "IPv4 with options, TCP with options, a payload",
      .frame = frame,
      .record = RecordFields{.record_len = sizeof(sniffer_record), .ifindex = kLoopback, .wire_len = frame.size(),
                             .hook = SNIFFER_HOOK_XDP_INGRESS, .mode = SNIFFER_MODE_GATEWAY, .is_wan_facing = 1,
                             .ip_version = 4, .l4_proto = 6, .tcp_flags = 0x12, .ttl = 63, .vlan_count = 0,
                             .ethertype = 0x0800, .sport = 40000, .dport = 443, .tcp_window = 29200,
                             .l3_hdr_len = 24, .l4_hdr_len = 32, .ip_total_len = 24 + 32 + 5,
                             .frag_flags = SNIFFER_FRAG_DF, .parse_flags = 0, .saddr = "198.51.100.10",
                             .daddr = "192.0.2.10", .frag_id = 0x1234, .payload_offset = 14 + 24 + 32,
                             .snippet_len = 0, .tcp_seq = 1000 /* the builder's */, .tcp_ack = 0},
      .counters = {{kXdpTcp, 1},
                   {SNIFFER_STAT_BYTES(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP), frame.size()},
                   {SNIFFER_STAT_RECORDS, 1},
                   {SNIFFER_STAT_PARSE_ERROR, 0}},
  });
  ASSERT_EQ(records_.size(), 1u);
  const sniffer_record& h = records_[0].header;
  EXPECT_EQ(h.magic, SNIFFER_RECORD_MAGIC);
  EXPECT_EQ(h.abi_version, SNIFFER_ABI_VERSION);
  EXPECT_GT(h.ts_mono_ns, 0u);
  EXPECT_EQ(h.saddr[4], 0);  // rest of the 16-byte field is zero for IPv4
}

TEST_F(ProgramsTest, Ipv6UdpThroughExtensionHeaders) {
  load();
  configure(Mode::HostBased, Role::Lan);
  check(Row{
      .description = "IPv6, hop-by-hop and destination options, UDP",
      .frame = Frame{}
                   .ipv6({.src = "2001:db8:200::10", .dst = "2001:db8:100::10", .hop_limit = 17, .ext = {0, 60}})
                   .udp({.sport = 5353, .dport = 53, .payload = "query"}),
      .record = RecordFields{.mode = SNIFFER_MODE_HOST_BASED, .is_wan_facing = 0, .ip_version = 6, .l4_proto = 17,
                             .ttl = 17, .sport = 5353, .dport = 53, .l3_hdr_len = 40 + 8 + 8, .l4_hdr_len = 8,
                             .ip_total_len = 40 + 16 + 8 + 5, .parse_flags = 0, .saddr = "2001:db8:200::10",
                             .daddr = "2001:db8:100::10"},
      .counters = {{kXdpUdp, 1}},
  });
}

TEST_F(ProgramsTest, QinQTagsAreRecordedOuterFirst) {
  load();
  configure(Mode::Gateway, Role::Lan);
  check(Row{
      .description = "802.1ad then 802.1Q (with priority bits)",
      .frame = Frame{}
                   .vlan(100, 0x88A8)
                   .vlan(0x2000 | 200)
                   .ipv4({.src = "192.0.2.10", .dst = "198.51.100.10"})
                   .udp({.sport = 1111, .dport = 2222}),
      .record = RecordFields{.vlan_count = 2, .ethertype = 0x0800, .vlan_outer = 100,
                             .vlan_inner = 200 /* priority bits stripped */, .sport = 1111, .dport = 2222,
                             .parse_flags = 0},
  });
}

TEST_F(ProgramsTest, ThreeVlanTagsStopTheParserAndAreCounted) {
  load();
  configure(Mode::Gateway, Role::Lan);
  check(Row{
      .description = "three 802.1Q tags",
      .frame = Frame{}.vlan(1).vlan(2).vlan(3).ipv4({.src = "192.0.2.10", .dst = "198.51.100.10"}).udp({}),
      .record = RecordFields{.ip_version = 0, .vlan_count = 2, .parse_flags = SNIFFER_PARSE_VLAN_EXCESS},
      .counters = {{SNIFFER_STAT_PARSE_ERROR, 1}, {kXdpOther, 1}},
  });
}

TEST_F(ProgramsTest, IcmpEchoAndIcmpv6) {
  load();
  configure(Mode::Gateway, Role::Wan);
  check({
      {.description = "ICMP echo request",
       .frame = Frame{}.ipv4({.src = "198.51.100.10", .dst = "192.0.2.10"}).icmp({.type = 8}),
       .record = RecordFields{.l4_proto = 1, .sport = 0, .l4_hdr_len = 8, .icmp_type = 8, .icmp_code = 0},
       .counters = {{kXdpIcmp, 1}}},
      {.description = "ICMPv6 echo request",
       .frame = Frame{}.ipv6({.src = "2001:db8:100::10", .dst = "2001:db8:200::10"}).icmp6({.type = 128}),
       .record = RecordFields{.l4_proto = 58, .icmp_type = 128},
       .counters = {{kXdpIcmp, 1}}},
  });
}

TEST_F(ProgramsTest, SctpPortsAreReadFromItsCommonHeader) {
  load();
  configure(Mode::Gateway, Role::Wan);
  // Ports 5000 -> 38412, verification tag, checksum, then one 16-byte chunk.
  const std::string common_header("\x13\x88\x96\x0c\x00\x00\x00\x01\x00\x00\x00\x00", 12);
  check({
      {.description = "SCTP over IPv4",
       .frame = Frame{}.ipv4({}).raw({.proto = 132, .payload = common_header + std::string(16, 'c')}),
       .record = RecordFields{.l4_proto = 132, .sport = 5000, .dport = 38412, .l4_hdr_len = 12,
                              .parse_flags = 0, .payload_offset = 14 + 20 + 12}},
      {.description = "SCTP cut inside its common header",
       .frame = Frame{}.ipv4({}).raw({.proto = 132, .payload = common_header.substr(0, 8)}),
       .record = RecordFields{.l4_proto = 132, .sport = 5000, .dport = 38412, .l4_hdr_len = 0,
                              .parse_flags = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT}},
  });
}

TEST_F(ProgramsTest, NonIpFrameYieldsRecordOfClassOther) {
  load();
  configure(Mode::Gateway, Role::Wan);
  check(Row{
      .description = "ARP",
      .frame = Frame{}.ethertype(0x0806).pad_to(42),
      .record = RecordFields{.ip_version = 0, .ethertype = 0x0806, .parse_flags = 0},
      .counters = {{kXdpOther, 1}},
  });
}

TEST_F(ProgramsTest, MplsLabelStacksAreWalkedToTheIpPacketBelow) {
  // Zeek's Traces/mixed-vlan-mpls.pcap: MPLS-encapsulated IP made no flow.
  load({.payload_bytes = 8});
  configure(Mode::Gateway, Role::Wan);
  check({
      {.description = "one label, IPv4 TCP",
       .frame = Frame{}
                    .mpls(29)
                    .ipv4({.src = "10.1.2.1", .dst = "10.34.0.1"})
                    .tcp({.sport = 11001, .dport = 23, .flags = kPsh | kAck, .payload = "login:"}),
       .record = RecordFields{.ip_version = 4, .tcp_flags = 0x18, .ethertype = 0x8847, .sport = 11001, .dport = 23,
                              .parse_flags = 0, .saddr = "10.1.2.1", .payload_offset = 14 + 4 + 20 + 20,
                              .mpls_count = 1, .snippet = "login:"}},
      {.description = "a VLAN tag, two labels, IPv6 (first nibble 6)",
       .frame = Frame{}
                    .vlan(100)
                    .mpls(1000)
                    .mpls(16)
                    .ipv6({.src = "2001:db8::1", .dst = "2001:db8::2"})
                    .udp({.sport = 5353, .dport = 53, .payload = "q"}),
       .record = RecordFields{.ip_version = 6, .vlan_count = 1, .vlan_outer = 100, .sport = 5353, .parse_flags = 0,
                              .mpls_count = 2}},
      // The padding is not payload, and the length check starts the IP
      // packet below the labels.
      {.description = "padded to the Ethernet minimum",
       .frame = Frame{}.mpls(29).ipv4({.src = "10.1.2.1", .dst = "10.34.0.1"}).udp({.sport = 1, .dport = 2}).pad_to(64),
       .record = RecordFields{.ip_total_len = 28, .parse_flags = 0}},
      {.description = "more labels than the walk reads: flagged, no IP",
       .frame = Frame{}
                    .mpls(1)
                    .mpls(2)
                    .mpls(3)
                    .mpls(4)
                    .mpls(5)
                    .ipv4({.src = "10.1.2.1", .dst = "10.34.0.1"})
                    .udp({.sport = 5353, .dport = 53, .payload = "q"}),
       .record = RecordFields{.ip_version = 0, .parse_flags = SNIFFER_PARSE_VLAN_EXCESS,
                              .mpls_count = SNIFFER_MPLS_MAX_LABELS}},
      // A pseudowire control word (first nibble 0): not parsed, not an error.
      {.description = "below the bottom label neither IPv4 nor IPv6",
       .frame = Frame{}.mpls(77).pad_to(64),
       .record = RecordFields{.ip_version = 0, .parse_flags = 0, .mpls_count = 1}},
      {.description = "cut inside the label stack",
       .frame = Frame{}.mpls(1).mpls(2).ipv4({.src = "10.1.2.1", .dst = "10.34.0.1"}).udp({}).cut(14 + 6),
       .record = RecordFields{.ip_version = 0, .parse_flags = SNIFFER_PARSE_TRUNCATED}},
  });
}

TEST_F(ProgramsTest, LaterFragmentsHaveNoPorts) {
  load();
  configure(Mode::Gateway, Role::Wan);
  const UdpFields udp{.sport = 53, .dport = 5353, .payload = std::string(64, 'x')};
  check({
      {.description = "IPv4 first fragment",
       .frame = Frame{}.ipv4({.frag_field = 0x2000}).udp(udp),
       .record = RecordFields{.sport = 53, .frag_flags = SNIFFER_FRAG_MF | SNIFFER_FRAG_FRAGMENT}},
      {.description = "IPv4 later fragment",
       .frame = Frame{}.ipv4({.frag_field = 185}).udp(udp),
       .record = RecordFields{.l4_proto = 17, .sport = 0, .dport = 0, .frag_offset = 185 * 8,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST}},
      {.description = "IPv6 later fragment",
       .frame = Frame{}.ipv6({.ext = {44}, .frag_offset = 1448, .more_fragments = true}).udp(udp),
       .record = RecordFields{.sport = 0, .frag_offset = 1448,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF | SNIFFER_FRAG_NOT_FIRST,
                              .frag_id = 0xabcdef01u}},
  });
}

TEST_F(ProgramsTest, Ipv6ExtensionChainPastTheBoundIsFlagged) {
  // Linux delivers a datagram behind any number of Destination Options
  // headers: the walk reads the transport header behind up to
  // SNIFFER_IPV6_MAX_EXT_HDRS (16) of them; behind more, the record says so.
  load();
  configure(Mode::Gateway, Role::Wan);
  const auto dest_opts = [](std::size_t n) { return std::vector<std::uint8_t>(n, 60); };
  const UdpFields udp{.sport = 1, .dport = 2, .payload = "secret"};
  check({
      {.description = "one more extension header than the walk reads",
       .frame = Frame{}.ipv6({.ext = dest_opts(SNIFFER_IPV6_MAX_EXT_HDRS + 1)}).udp(udp),
       .record = RecordFields{.l4_proto = 60, .sport = 0, .l3_hdr_len = 40 + 8 * (SNIFFER_IPV6_MAX_EXT_HDRS),
                              .parse_flags = SNIFFER_PARSE_EXTHDR_LIMIT, .payload_offset = 0},
       .counters = {{SNIFFER_STAT_PARSE_ERROR, 1}}},
      {.description = "exactly the bound: the transport header after the last one is read",
       .frame = Frame{}.ipv6({.ext = dest_opts(SNIFFER_IPV6_MAX_EXT_HDRS)}).udp(udp),
       .record = RecordFields{.l4_proto = 17, .sport = 1, .dport = 2, .l3_hdr_len = 40 + 8 * SNIFFER_IPV6_MAX_EXT_HDRS,
                              .parse_flags = 0, .payload_offset = 14 + 40 + 8 * SNIFFER_IPV6_MAX_EXT_HDRS + 8},
       .counters = {{SNIFFER_STAT_PARSE_ERROR, 0}}},
      {.description = "12 headers (the red team's F4: delivered by Linux)",
       .frame = Frame{}.ipv6({.ext = dest_opts(12)}).udp(udp),
       .record = RecordFields{.l4_proto = 17, .sport = 1, .dport = 2, .parse_flags = 0}},
      {.description = "8 headers",
       .frame = Frame{}.ipv6({.ext = dest_opts(8)}).udp(udp),
       .record = RecordFields{.l4_proto = 17, .sport = 1, .dport = 2, .parse_flags = 0}},
      {.description = "a fragment header last in a full chain: a first fragment, its ports read",
       .frame = Frame{}.ipv6({.ext = [&] { auto e = dest_opts(SNIFFER_IPV6_MAX_EXT_HDRS - 1); e.push_back(44); return e; }(),
                             .more_fragments = true}).udp(udp),
       .record = RecordFields{.l4_proto = 17, .sport = 1, .dport = 2,
                              .frag_flags = SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF, .parse_flags = 0}},
  });
}

}  // namespace
}  // namespace sniffer::test
