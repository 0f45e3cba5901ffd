// The flow view of one parsed record (flow_packet_of; its features' part is
// sniffer_flow_packet_of in include/sniffer/flow_update.h, shared by the
// kernel flows and the userspace table): its canonical key and direction,
// and what it contributes, for records the parser makes of frames the
// capture cut.
#include <arpa/inet.h>

#include <cstring>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_packet.hpp"
#include "sniffer/flow_table.hpp"

namespace sniffer {
namespace {

// An IPv6 TCP segment of 1208 payload bytes behind a 32-byte TCP header
// (options), as the parser records it when the capture kept `tcp_bytes`
// bytes of the TCP header (bpf/parse.bpf.h).
sniffer_record cut_ipv6_tcp(unsigned tcp_bytes, std::uint8_t flags = 0x10) {
  sniffer_record r{};
  r.ip_version = 6;
  r.l4_proto = 6;
  r.ethertype = 0x86DD;
  inet_pton(AF_INET6, "2001:db8::1", r.saddr);
  inet_pton(AF_INET6, "2001:db8::2", r.daddr);
  r.l3_hdr_len = 40;
  r.ip_total_len = 40 + 32 + 1208;
  r.wire_len = 14 + 40 + 32 + 1208;
  r.sport = 443;
  r.dport = 50000;
  r.parse_flags = SNIFFER_PARSE_TRUNCATED | (tcp_bytes < 20 ? SNIFFER_PARSE_L4_CUT : 0);
  if (tcp_bytes >= 8) r.tcp_seq = 1000;
  if (tcp_bytes >= 14) {
    r.l4_hdr_len = 32;
    r.tcp_flags = flags;
  }
  if (tcp_bytes >= 16) r.tcp_window = 512;
  return r;
}

TEST(FlowPacket, BothDirectionsOfAConversationShareOneKey) {
  sniffer_record r = cut_ipv6_tcp(24);
  r.vlan_count = 2;
  r.vlan_ids[0] = 100;  // the outer tag is the flow's
  r.vlan_ids[1] = 200;
  r.ifindex = 7;
  r.mode = SNIFFER_MODE_HOST_BASED;
  r.is_wan_facing = 1;
  FlowPacket out{}, back{};
  ASSERT_TRUE(flow_packet_of(r, 5, out));
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  ASSERT_TRUE(flow_packet_of(r, 6, back));
  EXPECT_TRUE(out.key == back.key);
  EXPECT_TRUE(out.a_to_b);  // 2001:db8::1 sorts first: side A
  EXPECT_FALSE(back.a_to_b);
  EXPECT_EQ(out.key.port_a, 443);
  EXPECT_EQ(out.key.port_b, 50000);
  EXPECT_EQ(out.key.vlan_id, 100);
  EXPECT_EQ(out.key.l4_proto, 6);
  EXPECT_EQ(out.key.ip_version, 6);
  EXPECT_EQ(out.packet.ts, 5u);
  EXPECT_EQ(out.packet.wire_len, r.wire_len);
  EXPECT_EQ(out.ifindex, 7u);
  EXPECT_EQ(out.mode, SNIFFER_MODE_HOST_BASED);
  EXPECT_EQ(out.is_wan_facing, 1);

  r.ip_version = 0;  // not IP: no flow
  EXPECT_FALSE(flow_packet_of(r, 7, out));
}

TEST(FlowPacket, ACutTcpHeaderIsNotPayload) {
  // Snap length 64: 10 bytes of TCP, the data offset unknown: the minimal
  // 20-byte header comes out of the datagram, and no flags.
  FlowPacket f;
  ASSERT_TRUE(flow_packet_of(cut_ipv6_tcp(10), 1, f));
  const sniffer_flow_packet& p = f.packet;
  EXPECT_EQ(f.key.port_a, 443);
  EXPECT_EQ(f.key.port_b, 50000);
  EXPECT_EQ(p.header_len, 40u + 20);
  EXPECT_EQ(p.payload_len, 32u + 1208 - 20);
  EXPECT_FALSE(p.has_tcp_header);
  EXPECT_EQ(p.tcp_flags, 0);

  // Snap length 68: 14 bytes, the data offset and the flags are there; the
  // window is not.
  ASSERT_TRUE(flow_packet_of(cut_ipv6_tcp(14, 0x18), 1, f));
  EXPECT_EQ(p.header_len, 40u + 32);
  EXPECT_EQ(p.payload_len, 1208u);
  EXPECT_TRUE(p.has_tcp_header);
  EXPECT_EQ(p.tcp_flags, 0x18);
  EXPECT_FALSE(p.has_tcp_window);

  // The whole fixed header, options cut: the window too.
  ASSERT_TRUE(flow_packet_of(cut_ipv6_tcp(24), 1, f));
  EXPECT_TRUE(p.has_tcp_window);
  EXPECT_EQ(p.tcp_window, 512);
}

TEST(FlowPacket, ACutUdpHeaderIsNotPayloadAndATinyDatagramHasNone) {
  sniffer_record r{};
  r.ip_version = 4;
  r.l4_proto = 17;
  r.l3_hdr_len = 20;
  r.ip_total_len = 20 + 8 + 100;
  r.sport = 53;
  r.dport = 5353;
  r.parse_flags = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;
  FlowPacket f;
  const sniffer_flow_packet& p = f.packet;
  ASSERT_TRUE(flow_packet_of(r, 1, f));
  EXPECT_EQ(p.payload_len, 100u);
  EXPECT_EQ(p.header_len, 28u);
  // A datagram shorter than the minimal header (a tiny fragment): its
  // bytes are all header, never more.
  r.ip_total_len = 20 + 4;
  ASSERT_TRUE(flow_packet_of(r, 1, f));
  EXPECT_EQ(p.payload_len, 0u);
  EXPECT_EQ(p.header_len, 24u);
}

TEST(FlowPacket, FlowsOfCutHeadersKeepTheirPortsFlagsAndPayload) {
  // A server's segments captured with snap length 68 (IPv6): one flow with
  // its ports, its ACK flags counted, the payload without header bytes, and
  // no initial window taken from a cut one.
  std::vector<v1::FlowRecord> out;
  FlowTable t(
      FlowTableConfig{}, [&](const FlowState& f, v1::FlowEndReason reason, bool update) {
        v1::FlowRecord r;
        f.to_proto(r, reason, update);
        out.push_back(r);
      });
  FlowPacket p;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(flow_packet_of(cut_ipv6_tcp(14), 1000 + i, p));
    t.add(p);
  }
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].src_port(), 443u);
  EXPECT_EQ(out[0].dst_port(), 50000u);
  EXPECT_EQ(out[0].fwd().packets(), 3u);
  EXPECT_EQ(out[0].fwd().payload_bytes(), 3u * 1208);
  EXPECT_EQ(out[0].ack_count(), 3u);
  EXPECT_EQ(out[0].fwd().init_window(), -1);
}

}  // namespace
}  // namespace sniffer
