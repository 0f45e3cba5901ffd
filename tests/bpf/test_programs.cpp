// bpf tier: the real programs, loaded into this kernel, run on crafted
// frames through BPF_PROG_TEST_RUN. Asserts verdicts, records and counters.
// Needs root (CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "packet_builder.hpp"
#include "privileges.hpp"
#include "sniffer/abi.h"
#include "sniffer/blocklist.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/record.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {
namespace {

using test::Bytes;
using test::L4;

constexpr std::uint32_t kLoopback = 1;  // PROG_TEST_RUN frames arrive on this netns's lo
constexpr std::uint32_t kXdpDrop = 1;
constexpr std::uint32_t kXdpPass = 2;
constexpr std::uint32_t kTcShot = 2;
constexpr std::uint32_t kTcContinue = 0xffffffffu;  // TC_ACT_UNSPEC (-1)

struct Captured {
  sniffer_record header;
  std::vector<std::uint8_t> snippet;
};

class ProgramsTest : public ::testing::Test {
 protected:
  void SetUp() override { SNIFFER_REQUIRE_ROOT(); }

  void load(LoadOptions options = {}) {
    progs_ = std::make_unique<BpfPrograms>(options);
    payload_ = options.payload_bytes;
    ring_ = ring_buffer__new(progs_->events_map_fd(), &ProgramsTest::on_sample, this, nullptr);
    ASSERT_NE(ring_, nullptr);
  }

  void TearDown() override {
    if (ring_) ring_buffer__free(ring_);
  }

  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<ProgramsTest*>(ctx);
    DecodedRecord rec;
    DecodeStatus st = decode_record(data, size, self->payload_, rec);
    EXPECT_EQ(st, DecodeStatus::Ok) << to_string(st);
    if (st == DecodeStatus::Ok) self->records_.push_back({rec.header, {rec.snippet.begin(), rec.snippet.end()}});
    return 0;
  }

  std::uint32_t run(int prog_fd, const Bytes& frame, bool skb = false) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()));
    __sk_buff skb_ctx{};
    if (skb) {
      opts.ctx_in = &skb_ctx;
      opts.ctx_size_in = sizeof(skb_ctx);
    }
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
    return opts.retval;
  }

  // Runs the XDP program on `frame`, collects the records it emitted.
  std::vector<Captured> xdp(const Bytes& frame) {
    records_.clear();
    EXPECT_EQ(run(progs_->xdp_prog_fd(), frame), kXdpPass);
    ring_buffer__consume(ring_);
    return records_;
  }

  // Runs the XDP program, returns its verdict; the records land in records_.
  std::uint32_t xdp_verdict(const Bytes& frame) {
    records_.clear();
    std::uint32_t v = run(progs_->xdp_prog_fd(), frame);
    ring_buffer__consume(ring_);
    return v;
  }

  Captured one_xdp(const Bytes& frame) {
    auto recs = xdp(frame);
    EXPECT_EQ(recs.size(), 1u);
    return recs.empty() ? Captured{} : recs[0];
  }

  std::uint64_t stat(int idx) { return progs_->read_stats()[idx]; }

  std::unique_ptr<BpfPrograms> progs_;
  ring_buffer* ring_ = nullptr;
  std::uint32_t payload_ = 0;
  std::vector<Captured> records_;
};

std::string addr(const std::uint8_t* bytes, int family) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buf, sizeof(buf));
  return buf;
}

TEST_F(ProgramsTest, Ipv4TcpRecordCarriesEveryHeaderField) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 tcp{.kind = L4::Tcp, .sport = 40000, .dport = 443, .tcp_flags = 0x12, .window = 29200, .tcp_doff = 8,
         .payload = "hello"};
  Bytes frame = test::ipv4_frame("198.51.100.10", "192.0.2.10", tcp, {.ttl = 63, .ihl = 6});

  Captured r = one_xdp(frame);
  const sniffer_record& h = r.header;
  EXPECT_EQ(h.magic, SNIFFER_RECORD_MAGIC);
  EXPECT_EQ(h.abi_version, SNIFFER_ABI_VERSION);
  EXPECT_EQ(h.record_len, sizeof(sniffer_record));
  EXPECT_GT(h.ts_mono_ns, 0u);
  EXPECT_EQ(h.ifindex, kLoopback);
  EXPECT_EQ(h.hook, SNIFFER_HOOK_XDP_INGRESS);
  EXPECT_EQ(h.mode, SNIFFER_MODE_GATEWAY);
  EXPECT_EQ(h.is_wan_facing, 1);
  EXPECT_EQ(h.wire_len, frame.size());
  EXPECT_EQ(h.ethertype, 0x0800);
  EXPECT_EQ(h.ip_version, 4);
  EXPECT_EQ(addr(h.saddr, AF_INET), "198.51.100.10");
  EXPECT_EQ(addr(h.daddr, AF_INET), "192.0.2.10");
  EXPECT_EQ(h.saddr[4], 0);  // rest of the 16-byte field is zero for IPv4
  EXPECT_EQ(h.sport, 40000);
  EXPECT_EQ(h.dport, 443);
  EXPECT_EQ(h.l4_proto, 6);
  EXPECT_EQ(h.tcp_flags, 0x12);
  EXPECT_EQ(h.tcp_window, 29200);
  EXPECT_EQ(h.tcp_seq, 1000u);  // the builder's sequence number
  EXPECT_EQ(h.tcp_ack, 0u);
  EXPECT_EQ(h.ttl, 63);
  EXPECT_EQ(h.l3_hdr_len, 24);
  EXPECT_EQ(h.l4_hdr_len, 32);
  EXPECT_EQ(h.ip_total_len, 24 + 32 + 5);
  EXPECT_EQ(h.payload_offset, 14 + 24 + 32);
  EXPECT_EQ(h.frag_flags, SNIFFER_FRAG_DF);
  EXPECT_EQ(h.frag_id, 0x1234u);
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.vlan_count, 0);
  EXPECT_EQ(h.snippet_len, 0);

  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP)), 1u);
  EXPECT_EQ(stat(SNIFFER_STAT_BYTES(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP)), frame.size());
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 1u);
  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 0u);
}

TEST_F(ProgramsTest, Ipv6UdpThroughExtensionHeaders) {
  load();
  progs_->set_interface(kLoopback, Mode::HostBased, Role::Lan, 1);
  L4 udp{.kind = L4::Udp, .sport = 5353, .dport = 53, .payload = "query"};
  Bytes frame = test::ipv6_frame("2001:db8:200::10", "2001:db8:100::10", udp, {0, 60}, 0, false, {}, 17);

  const sniffer_record h = one_xdp(frame).header;
  EXPECT_EQ(h.ip_version, 6);
  EXPECT_EQ(h.mode, SNIFFER_MODE_HOST_BASED);
  EXPECT_EQ(h.is_wan_facing, 0);
  EXPECT_EQ(addr(h.saddr, AF_INET6), "2001:db8:200::10");
  EXPECT_EQ(addr(h.daddr, AF_INET6), "2001:db8:100::10");
  EXPECT_EQ(h.l4_proto, 17);
  EXPECT_EQ(h.sport, 5353);
  EXPECT_EQ(h.dport, 53);
  EXPECT_EQ(h.ttl, 17);
  EXPECT_EQ(h.l3_hdr_len, 40 + 8 + 8);
  EXPECT_EQ(h.l4_hdr_len, 8);
  EXPECT_EQ(h.ip_total_len, 40 + 16 + 8 + 5);
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)), 1u);
}

TEST_F(ProgramsTest, QinQTagsAreRecordedOuterFirst) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Lan, 1);
  L4 udp{.kind = L4::Udp, .sport = 1111, .dport = 2222};
  Bytes frame = test::ipv4_frame("192.0.2.10", "198.51.100.10", udp, {}, {{0x88A8, 100}, {0x8100, 0x2000 | 200}});

  const sniffer_record h = one_xdp(frame).header;
  EXPECT_EQ(h.vlan_count, 2);
  EXPECT_EQ(h.vlan_ids[0], 100);
  EXPECT_EQ(h.vlan_ids[1], 200);  // priority bits stripped
  EXPECT_EQ(h.ethertype, 0x0800);
  EXPECT_EQ(h.sport, 1111);
  EXPECT_EQ(h.dport, 2222);
  EXPECT_EQ(h.parse_flags, 0);
}

TEST_F(ProgramsTest, ThreeVlanTagsStopTheParserAndAreCounted) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Lan, 1);
  Bytes frame = test::ipv4_frame("192.0.2.10", "198.51.100.10", L4{}, {}, {{0x8100, 1}, {0x8100, 2}, {0x8100, 3}});
  const sniffer_record h = one_xdp(frame).header;
  EXPECT_EQ(h.vlan_count, 2);
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_VLAN_EXCESS);
  EXPECT_EQ(h.ip_version, 0);
  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 1u);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_OTHER)), 1u);
}

TEST_F(ProgramsTest, IcmpEchoAndIcmpv6) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  const sniffer_record v4 =
      one_xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Icmp, .icmp_type = 8})).header;
  EXPECT_EQ(v4.l4_proto, 1);
  EXPECT_EQ(v4.icmp_type, 8);
  EXPECT_EQ(v4.icmp_code, 0);
  EXPECT_EQ(v4.l4_hdr_len, 8);
  EXPECT_EQ(v4.sport, 0);
  const sniffer_record v6 = one_xdp(test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10",
                                                     L4{.kind = L4::Icmp6, .icmp_type = 128}))
                                .header;
  EXPECT_EQ(v6.l4_proto, 58);
  EXPECT_EQ(v6.icmp_type, 128);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_ICMP)), 2u);
}

TEST_F(ProgramsTest, NonIpFrameYieldsRecordOfClassOther) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  Bytes arp = test::ethernet({}, 0x0806);
  arp.resize(42, 0);
  const sniffer_record h = one_xdp(arp).header;
  EXPECT_EQ(h.ethertype, 0x0806);
  EXPECT_EQ(h.ip_version, 0);
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_OTHER)), 1u);
}

TEST_F(ProgramsTest, TruncatedHeadersAreFlaggedCountedAndPassed) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  Bytes full = test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Tcp, .sport = 1, .dport = 2});

  // Cut inside the IPv4 header: IP version known, no addresses.
  Bytes cut_ip(full.begin(), full.begin() + 14 + 10);
  sniffer_record h = one_xdp(cut_ip).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.ip_version, 4);
  EXPECT_EQ(h.sport, 0);

  // Cut inside the TCP header after its ports: addresses and ports known
  // (as tshark reads them), the flags not.
  Bytes cut_tcp(full.begin(), full.begin() + 14 + 20 + 10);
  h = one_xdp(cut_tcp).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT);
  EXPECT_EQ(addr(h.saddr, AF_INET), "198.51.100.10");
  EXPECT_EQ(h.l4_proto, 6);
  EXPECT_EQ(h.sport, 1);
  EXPECT_EQ(h.dport, 2);
  EXPECT_EQ(h.l4_hdr_len, 0);

  // A TCP data offset beyond the packet.
  Bytes bad_doff = full;
  bad_doff[14 + 20 + 12] = 15 << 4;
  h = one_xdp(bad_doff).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.sport, 1);
  EXPECT_EQ(h.l4_hdr_len, 60);

  // IHL below 5.
  Bytes bad_ihl = full;
  bad_ihl[14] = 0x44;
  h = one_xdp(bad_ihl).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_MALFORMED);

  // An Ethernet header announcing IPv4 and nothing after it (the kernel
  // refuses test frames shorter than an Ethernet header).
  Bytes eth_only(full.begin(), full.begin() + 14);
  h = one_xdp(eth_only).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.ip_version, 4);
  EXPECT_EQ(h.wire_len, 14u);

  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 5u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 5u);
}

TEST_F(ProgramsTest, EveryCutOfAFrameIsPassedCountedAndFlagged) {
  // Each frame cut at every length from the Ethernet header on: every cut
  // passes and yields one record; a cut inside any header (VLAN tags, IPv4,
  // IPv6 and its extension headers, TCP, UDP, ICMP, ICMPv6) is flagged
  // truncated, a cut in the payload is flagged as a length the frame
  // contradicts, and the whole frame is clean.
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  struct Case {
    const char* name;
    Bytes frame;
    std::size_t headers_end;
  };
  const std::vector<Case> cases{
      {"QinQ IPv4 TCP",
       test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Tcp, .sport = 1, .dport = 2, .payload = "data"},
                        {}, {{0x88a8, 100}, {0x8100, 200}}),
       14 + 8 + 20 + 20},
      {"IPv6 hop-by-hop, destination options, UDP",
       test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", L4{.kind = L4::Udp, .sport = 3, .dport = 4, .payload = "q"},
                        {0, 60}),
       14 + 40 + 16 + 8},
      {"IPv4 ICMP", test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Icmp, .payload = "ping"}), 14 + 20 + 8},
      {"IPv6 ICMPv6",
       test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", L4{.kind = L4::Icmp6, .icmp_type = 128, .payload = "p"}),
       14 + 40 + 8},
  };
  std::uint64_t cuts = 0, flagged = 0;
  for (const Case& c : cases) {
    for (std::size_t len = 14; len <= c.frame.size(); ++len) {
      Bytes cut(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(len));
      auto recs = xdp(cut);
      ASSERT_EQ(recs.size(), 1u) << c.name << " cut at " << len;
      const std::uint8_t flags = recs[0].header.parse_flags;
      if (len < c.headers_end) {
        EXPECT_TRUE(flags & SNIFFER_PARSE_TRUNCATED) << c.name << " cut at " << len << ": flags " << int(flags);
      } else if (len < c.frame.size()) {
        EXPECT_EQ(flags, SNIFFER_PARSE_BAD_LENGTH) << c.name << " cut at " << len;
      } else {
        EXPECT_EQ(flags, 0) << c.name << " whole";
      }
      EXPECT_EQ(recs[0].header.wire_len, len);
      ++cuts;
      flagged += len < c.frame.size() ? 1 : 0;
    }
  }
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), cuts);
  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), flagged);
}

TEST_F(ProgramsTest, HeadersCutByTheSnapLengthKeepTheirPorts) {
  // Captures with a snap length of 64 or 68 bytes cut the TCP header of
  // IPv6 segments: the ports are in its first 4 bytes (tshark reads them),
  // the flags only when byte 13 was captured, never any payload.
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 tcp{.kind = L4::Tcp, .sport = 22, .dport = 50123, .tcp_flags = 0x18, .window = 501, .tcp_doff = 8,
         .payload = std::string(100, 'x')};
  const Bytes full = test::ipv6_frame("2001:db8::22", "2001:db8::99", tcp);
  auto cut = [&](std::size_t len) {
    return one_xdp(Bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len))).header;
  };
  constexpr std::uint16_t kCut = SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;

  sniffer_record h = cut(64);  // 10 bytes of TCP: ports and sequence number
  EXPECT_EQ(h.parse_flags, kCut);
  EXPECT_EQ(h.sport, 22);
  EXPECT_EQ(h.dport, 50123);
  EXPECT_EQ(h.tcp_seq, 1000u);
  EXPECT_EQ(h.l4_hdr_len, 0);   // data offset not captured
  EXPECT_EQ(h.tcp_flags, 0);
  EXPECT_EQ(h.payload_offset, 0);
  EXPECT_EQ(h.ip_total_len, 40 + 32 + 100);  // the datagram's own length

  h = cut(68);  // 14 bytes: data offset and flags, no window
  EXPECT_EQ(h.parse_flags, kCut);
  EXPECT_EQ(h.sport, 22);
  EXPECT_EQ(h.l4_hdr_len, 32);
  EXPECT_EQ(h.tcp_flags, 0x18);
  EXPECT_EQ(h.tcp_window, 0);
  EXPECT_EQ(h.payload_offset, 0);

  h = cut(14 + 40 + 3);  // 3 bytes: no ports
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.sport, 0);
  EXPECT_EQ(h.dport, 0);

  h = cut(14 + 40 + 24);  // the fixed header whole, options cut: as before
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.tcp_window, 501);
  EXPECT_EQ(h.l4_hdr_len, 32);

  // UDP cut after its ports (IPv4, 6 bytes of UDP).
  const Bytes udp = test::ipv4_frame("198.51.100.10", "192.0.2.10",
                                     L4{.kind = L4::Udp, .sport = 5353, .dport = 53, .payload = "query"});
  h = one_xdp(Bytes(udp.begin(), udp.begin() + 14 + 20 + 6)).header;
  EXPECT_EQ(h.parse_flags, kCut);
  EXPECT_EQ(h.sport, 5353);
  EXPECT_EQ(h.dport, 53);
  EXPECT_EQ(h.l4_hdr_len, 0);
  EXPECT_EQ(h.payload_offset, 0);
}

TEST_F(ProgramsTest, Ipv4TotalLengthZeroTakesTheFramesLength) {
  // Captured on a host with TCP segmentation offload: the stack leaves the
  // IPv4 total length 0 for the NIC to fill in. The frame's length stands
  // in for it (flagged), so the segment's payload counts.
  load({.payload_bytes = 16});
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 tcp{.kind = L4::Tcp, .sport = 389, .dport = 40000, .tcp_flags = 0x18, .window = 300,
         .payload = std::string(1800, 'l')};
  Bytes frame = test::ipv4_frame("192.0.2.10", "198.51.100.10", tcp);
  test::set16(frame, 14 + 2, 0);
  Captured c = one_xdp(frame);
  const sniffer_record& h = c.header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_IP_LEN_FROM_FRAME);
  EXPECT_EQ(h.ip_total_len, 20 + 20 + 1800);
  EXPECT_EQ(h.sport, 389);
  EXPECT_EQ(h.tcp_flags, 0x18);
  EXPECT_EQ(h.payload_offset, 14 + 20 + 20);
  EXPECT_EQ(h.snippet_len, 16);
  EXPECT_EQ(std::string(c.snippet.begin(), c.snippet.end()), std::string(16, 'l'));

  // Behind a VLAN tag, the length starts after the tag.
  Bytes tagged = test::ipv4_frame("192.0.2.10", "198.51.100.10", tcp, {}, {{0x8100, 7}});
  test::set16(tagged, 18 + 2, 0);
  EXPECT_EQ(one_xdp(tagged).header.ip_total_len, 20 + 20 + 1800);
  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 2u);
}

// An MPLS frame: Ethernet (with `vlans`), the label stack entries (label,
// bottom-of-stack bit set on the last), then the IP packet of `ip_frame`
// (an Ethernet frame from the builder, whose own Ethernet header is dropped).
Bytes mpls_frame(const test::VlanTags& vlans, const std::vector<std::uint32_t>& labels, const Bytes& ip_frame,
                 bool bottom = true) {
  Bytes b = test::ethernet(vlans, 0x8847);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const bool bos = bottom && i + 1 == labels.size();
    test::put32(b, (labels[i] << 12) | (bos ? 0x100u : 0u) | 64u);  // label, TC 0, S, TTL 64
  }
  b.insert(b.end(), ip_frame.begin() + 14, ip_frame.end());
  return b;
}

TEST_F(ProgramsTest, MplsLabelStacksAreWalkedToTheIpPacketBelow) {
  // Zeek's Traces/mixed-vlan-mpls.pcap: MPLS-encapsulated IP made no flow.
  load({.payload_bytes = 8});
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 tcp{.kind = L4::Tcp, .sport = 11001, .dport = 23, .tcp_flags = 0x18, .payload = "login:"};
  Captured c = one_xdp(mpls_frame({}, {29}, test::ipv4_frame("10.1.2.1", "10.34.0.1", tcp)));
  sniffer_record h = c.header;
  EXPECT_EQ(h.ethertype, 0x8847);
  EXPECT_EQ(h.mpls_count, 1);
  EXPECT_EQ(h.ip_version, 4);
  EXPECT_EQ(addr(h.saddr, AF_INET), "10.1.2.1");
  EXPECT_EQ(h.sport, 11001);
  EXPECT_EQ(h.dport, 23);
  EXPECT_EQ(h.tcp_flags, 0x18);
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.payload_offset, 14 + 4 + 20 + 20);
  EXPECT_EQ(std::string(c.snippet.begin(), c.snippet.end()), "login:");

  // A VLAN tag, then two labels, then IPv6 (first nibble 6).
  L4 udp{.kind = L4::Udp, .sport = 5353, .dport = 53, .payload = "q"};
  h = one_xdp(mpls_frame({{0x8100, 100}}, {1000, 16},
                         test::ipv6_frame("2001:db8::1", "2001:db8::2", udp)))
          .header;
  EXPECT_EQ(h.vlan_count, 1);
  EXPECT_EQ(h.vlan_ids[0], 100);
  EXPECT_EQ(h.mpls_count, 2);
  EXPECT_EQ(h.ip_version, 6);
  EXPECT_EQ(h.sport, 5353);
  EXPECT_EQ(h.parse_flags, 0);

  // Padded to the Ethernet minimum: the padding is not payload, and the
  // length check starts the IP packet below the labels.
  Bytes small = mpls_frame({}, {29}, test::ipv4_frame("10.1.2.1", "10.34.0.1", L4{.kind = L4::Udp, .sport = 1, .dport = 2}));
  small.resize(64, 0);
  h = one_xdp(small).header;
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.ip_total_len, 28);

  // More labels than the walk reads, no bottom of stack: flagged, no IP.
  h = one_xdp(mpls_frame({}, {1, 2, 3, 4, 5}, test::ipv4_frame("10.1.2.1", "10.34.0.1", udp))).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_VLAN_EXCESS);
  EXPECT_EQ(h.ip_version, 0);
  EXPECT_EQ(h.mpls_count, SNIFFER_MPLS_MAX_LABELS);

  // Below the bottom label, neither IPv4 nor IPv6 (a pseudowire control
  // word, first nibble 0): not parsed, not an error.
  Bytes pw = test::ethernet({}, 0x8847);
  test::put32(pw, (77u << 12) | 0x100u | 64u);
  test::put32(pw, 0);  // control word
  pw.resize(64, 0);
  h = one_xdp(pw).header;
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.ip_version, 0);
  EXPECT_EQ(h.mpls_count, 1);

  // Cut inside the label stack.
  Bytes cut = mpls_frame({}, {1, 2}, test::ipv4_frame("10.1.2.1", "10.34.0.1", udp));
  cut.resize(14 + 6);
  h = one_xdp(cut).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.ip_version, 0);
}

TEST_F(ProgramsTest, LaterFragmentsHaveNoPorts) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 udp{.kind = L4::Udp, .sport = 53, .dport = 5353, .payload = std::string(64, 'x')};
  sniffer_record first = one_xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", udp, {.frag_field = 0x2000})).header;
  EXPECT_EQ(first.frag_flags, SNIFFER_FRAG_MF | SNIFFER_FRAG_FRAGMENT);
  EXPECT_EQ(first.sport, 53);

  sniffer_record later =
      one_xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", udp, {.frag_field = 0x0000 | 185})).header;
  EXPECT_EQ(later.frag_flags, SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST);
  EXPECT_EQ(later.frag_offset, 185 * 8);
  EXPECT_EQ(later.sport, 0);
  EXPECT_EQ(later.dport, 0);
  EXPECT_EQ(later.l4_proto, 17);

  sniffer_record v6 =
      one_xdp(test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", udp, {44}, 1448, true)).header;
  EXPECT_EQ(v6.frag_flags, SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF | SNIFFER_FRAG_NOT_FIRST);
  EXPECT_EQ(v6.frag_offset, 1448);
  EXPECT_EQ(v6.frag_id, 0xabcdef01u);
  EXPECT_EQ(v6.sport, 0);
}

// Writes a 16-bit big-endian value into a frame (to forge length fields).
void set16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

TEST_F(ProgramsTest, IpLengthFieldsTheFrameContradictsAreFlagged) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 udp{.kind = L4::Udp, .sport = 53, .dport = 5353, .payload = "answer"};
  constexpr std::size_t kIp = 14;

  // IPv4 total length beyond the frame: ports still parsed, length flagged.
  Bytes v4 = test::ipv4_frame("198.51.100.10", "192.0.2.10", udp);
  set16(v4, kIp + 2, 1500);
  sniffer_record h = one_xdp(v4).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_BAD_LENGTH);
  EXPECT_EQ(h.ip_total_len, 1500);
  EXPECT_EQ(h.sport, 53);

  // IPv6 payload length beyond the frame.
  Bytes v6 = test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", udp);
  set16(v6, kIp + 4, 4000);
  h = one_xdp(v6).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_BAD_LENGTH);
  EXPECT_EQ(h.dport, 5353);

  // IPv6 payload length 0 without a hop-by-hop header: no jumbogram, bogus.
  Bytes zero = test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", udp);
  set16(zero, kIp + 4, 0);
  h = one_xdp(zero).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_BAD_LENGTH);
  EXPECT_EQ(h.sport, 53);  // no bound from the length: parsed as far as the frame goes

  // Payload length 0 behind a hop-by-hop header may be a jumbogram (RFC 2675).
  Bytes jumbo = test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", udp, {0});
  set16(jumbo, kIp + 4, 0);
  EXPECT_EQ(one_xdp(jumbo).header.parse_flags, 0);

  // Lengths shorter than the frame are Ethernet padding: normal, unflagged,
  // and the padding is not taken for payload.
  Bytes padded = test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Tcp, .sport = 1, .dport = 2});
  padded.resize(60, 0);
  h = one_xdp(padded).header;
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.wire_len, 60u);
  EXPECT_EQ(h.ip_total_len, 40);

  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 3u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 5u);
}

TEST_F(ProgramsTest, TinyAndOverlappingFragmentsAreRecordedAsTheyCome) {
  // The sensor does not reassemble: each fragment is a record with its
  // offset and flags, so a detector sees overlaps and tiny fragments.
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  constexpr std::size_t kIp = 14;

  // A tiny first fragment (RFC 1858): 8 bytes of TCP, the flags are in the
  // next fragment. The frame is padded to the Ethernet minimum; the parser
  // must not read the padding as the rest of the TCP header.
  Bytes tiny = test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Tcp, .sport = 4444, .dport = 22},
                                {.frag_field = 0x2000});
  tiny.resize(kIp + 20 + 8);
  set16(tiny, kIp + 2, 20 + 8);
  tiny.resize(60, 0);
  sniffer_record h = one_xdp(tiny).header;
  EXPECT_EQ(h.frag_flags, SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF);
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED);
  EXPECT_EQ(h.l4_proto, 6);
  EXPECT_EQ(h.sport, 4444);  // the 8 bytes hold the ports
  EXPECT_EQ(h.dport, 22);
  EXPECT_EQ(h.tcp_flags, 0);  // not the padding's zeros taken for flags: cleared
  EXPECT_EQ(h.payload_offset, 0);

  // Two fragments of one datagram overlapping at offset 8: two records, the
  // overlap visible in their offsets and lengths.
  L4 raw{.kind = L4::Udp, .sport = 1, .dport = 2, .payload = std::string(24, 'a')};
  Bytes first = test::ipv4_frame("198.51.100.10", "192.0.2.10", raw, {.frag_field = 0x2000, .id = 77});
  Bytes overlap = test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Raw, .payload = std::string(16, 'b')},
                                   {.frag_field = 0x0001, .id = 77});
  overlap[kIp + 9] = 17;  // the datagram's protocol
  sniffer_record a = one_xdp(first).header, b = one_xdp(overlap).header;
  EXPECT_EQ(a.frag_id, 77u);
  EXPECT_EQ(b.frag_id, 77u);
  EXPECT_EQ(a.frag_offset, 0);
  EXPECT_EQ(a.ip_total_len - a.l3_hdr_len, 8 + 24);  // covers bytes [0, 32)
  EXPECT_EQ(b.frag_offset, 8);                        // starts inside them
  EXPECT_EQ(b.frag_flags, SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_NOT_FIRST);
  EXPECT_EQ(b.l4_proto, 17);
  EXPECT_EQ(b.parse_flags, 0);

  // IPv6: a first fragment too short for the UDP header.
  Bytes v6 = test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", L4{.kind = L4::Udp, .sport = 9, .dport = 9},
                              {44}, 0, true);
  v6.resize(kIp + 40 + 8 + 4);
  set16(v6, kIp + 4, 8 + 4);
  h = one_xdp(v6).header;
  EXPECT_EQ(h.frag_flags, SNIFFER_FRAG_FRAGMENT | SNIFFER_FRAG_MF);
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT);
  EXPECT_EQ(h.sport, 9);  // its 4 bytes hold the ports
  EXPECT_EQ(h.l4_hdr_len, 0);

  EXPECT_EQ(stat(SNIFFER_STAT_PARSE_ERROR), 2u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 4u);
}

TEST_F(ProgramsTest, Ipv6ExtensionChainPastTheBoundIsFlagged) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  std::vector<std::uint8_t> chain(SNIFFER_IPV6_MAX_EXT_HDRS + 1, 60);
  sniffer_record h =
      one_xdp(test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", L4{.sport = 1, .dport = 2}, chain)).header;
  EXPECT_EQ(h.parse_flags, SNIFFER_PARSE_EXTHDR_LIMIT);
  EXPECT_EQ(h.sport, 0);

  std::vector<std::uint8_t> at_bound(SNIFFER_IPV6_MAX_EXT_HDRS - 1, 60);
  h = one_xdp(test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", L4{.sport = 1, .dport = 2}, at_bound)).header;
  EXPECT_EQ(h.parse_flags, 0);
  EXPECT_EQ(h.sport, 1);
}

TEST_F(ProgramsTest, UnconfiguredInterfaceYieldsNoRecord) {
  load();
  auto recs = xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.sport = 1, .dport = 2}));
  EXPECT_TRUE(recs.empty());
  EXPECT_EQ(stat(SNIFFER_STAT_UNCONFIGURED), 1u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 0u);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)), 0u);

  // And after removal, the interface is unconfigured again.
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  EXPECT_EQ(xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{})).size(), 1u);
  progs_->remove_interface(kLoopback);
  EXPECT_TRUE(xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{})).empty());
  EXPECT_EQ(stat(SNIFFER_STAT_UNCONFIGURED), 2u);
}

TEST_F(ProgramsTest, PortFilterIncludeWinsThenExcludeThenDefault) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  auto udp = [](std::uint16_t s, std::uint16_t d) {
    return test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.sport = s, .dport = d});
  };
  // Default skip, include 53, exclude 22.
  progs_->set_filter({.default_capture = false, .include_ports = {53}, .exclude_ports = {22}});
  EXPECT_EQ(xdp(udp(40000, 53)).size(), 1u);  // include
  EXPECT_EQ(xdp(udp(53, 22)).size(), 1u);     // include beats exclude
  EXPECT_EQ(xdp(udp(40000, 22)).size(), 0u);  // exclude
  EXPECT_EQ(xdp(udp(40000, 80)).size(), 0u);  // default skip
  EXPECT_EQ(xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.kind = L4::Icmp})).size(), 0u);

  // Default capture, exclude 22 only: the include rule is removed.
  progs_->set_filter({.default_capture = true, .include_ports = {}, .exclude_ports = {22}});
  EXPECT_EQ(xdp(udp(40000, 22)).size(), 0u);
  EXPECT_EQ(xdp(udp(40000, 80)).size(), 1u);
  EXPECT_EQ(xdp(udp(53, 22)).size(), 0u);  // 53 is no longer included

  EXPECT_EQ(stat(SNIFFER_STAT_FILTERED), 5u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 3u);
}

TEST_F(ProgramsTest, TcProgramsTagTheirHookAndContinue) {
  load();
  progs_->set_interface(kLoopback, Mode::HostBased, Role::Wan, 1);
  Bytes frame = test::ipv4_frame("192.0.2.1", "198.51.100.10", L4{.kind = L4::Tcp, .sport = 22, .dport = 50000});
  for (auto [fd, hook] : {std::pair{progs_->tc_egress_prog_fd(), SNIFFER_HOOK_TC_EGRESS},
                          std::pair{progs_->tc_ingress_prog_fd(), SNIFFER_HOOK_TC_INGRESS}}) {
    records_.clear();
    EXPECT_EQ(run(fd, frame, true), kTcContinue);
    ring_buffer__consume(ring_);
    ASSERT_EQ(records_.size(), 1u);
    EXPECT_EQ(records_[0].header.hook, hook);
    EXPECT_EQ(records_[0].header.wire_len, frame.size());
    EXPECT_EQ(records_[0].header.sport, 22);
    EXPECT_EQ(records_[0].header.ifindex, kLoopback);
    EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(hook, SNIFFER_CLASS_TCP)), 1u);
  }
}

TEST_F(ProgramsTest, PayloadSnippetIsCopiedUpToTheConfiguredLength) {
  load({.payload_bytes = 16});
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  L4 udp{.kind = L4::Udp, .sport = 1, .dport = 2, .payload = "GET /index.html HTTP/1.1\r\n"};
  Captured r = one_xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", udp));
  EXPECT_EQ(r.header.record_len, sizeof(sniffer_record) + 16);
  EXPECT_EQ(r.header.snippet_len, 16);
  EXPECT_EQ(std::string(r.snippet.begin(), r.snippet.end()), "GET /index.html ");

  // Short payload: only its bytes, not the Ethernet padding after it.
  L4 short_udp{.kind = L4::Udp, .sport = 1, .dport = 2, .payload = "hi"};
  Bytes padded = test::ipv4_frame("198.51.100.10", "192.0.2.10", short_udp);
  padded.resize(60, 0xee);
  r = one_xdp(padded);
  EXPECT_EQ(r.header.snippet_len, 2);
  EXPECT_EQ(std::string(r.snippet.begin(), r.snippet.end()), "hi");

  // Through TC as well (bpf_skb_load_bytes).
  records_.clear();
  run(progs_->tc_egress_prog_fd(), test::ipv4_frame("198.51.100.10", "192.0.2.10", udp), true);
  ring_buffer__consume(ring_);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(std::string(records_[0].snippet.begin(), records_[0].snippet.end()), "GET /index.html ");
}

TEST_F(ProgramsTest, JumboFramesSpanningBuffersAreMeasuredWhole) {
  load({.payload_bytes = 8});
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  // 9000 bytes do not fit one page: the test run builds a multi-buffer frame.
  L4 tcp{.kind = L4::Tcp, .sport = 2049, .dport = 700, .payload = "NFSDATA!" + std::string(8900, 'z')};
  Bytes frame = test::ipv4_frame("198.51.100.10", "192.0.2.10", tcp);
  Captured r = one_xdp(frame);
  EXPECT_EQ(r.header.wire_len, frame.size());
  EXPECT_EQ(r.header.ip_total_len, frame.size() - 14);
  EXPECT_EQ(r.header.sport, 2049);
  EXPECT_EQ(std::string(r.snippet.begin(), r.snippet.end()), "NFSDATA!");
  EXPECT_EQ(stat(SNIFFER_STAT_BYTES(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP)), frame.size());
}

TEST_F(ProgramsTest, LoadsAtTheSnippetBounds) {
  // The verifier must accept the snippet copy at both ends of its range.
  for (std::uint32_t cap : {1u, static_cast<std::uint32_t>(SNIFFER_MAX_PAYLOAD_BYTES)}) {
    BpfPrograms p(LoadOptions{.ring_buffer_bytes = 1u << 16, .payload_bytes = cap});
    EXPECT_GE(p.xdp_prog_fd(), 0);
  }
}

TEST_F(ProgramsTest, FullRingDropsAreCountedExactly) {
  // The smallest ring (one page) holds 4096 / (104 + 8 header) = 36 records.
  load({.ring_buffer_bytes = 4096});
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  Bytes frame = test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.sport = 1, .dport = 2});
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) EXPECT_EQ(run(progs_->xdp_prog_fd(), frame), kXdpPass);  // nobody reads
  records_.clear();
  ring_buffer__consume(ring_);
  std::uint64_t records = stat(SNIFFER_STAT_RECORDS), full = stat(SNIFFER_STAT_RINGBUF_FULL);
  EXPECT_EQ(records, 4096u / (sizeof(sniffer_record) + 8));
  EXPECT_EQ(records + full, static_cast<std::uint64_t>(kSent));
  EXPECT_EQ(records_.size(), records);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)), static_cast<std::uint64_t>(kSent));
  // The fill gauge saw the full ring (each record has an 8-byte ring header).
  EXPECT_EQ(stat(SNIFFER_STAT_RING_FILL), records * (sizeof(sniffer_record) + 8));
}

TEST_F(ProgramsTest, CountersLandInTheInterfacesSlot) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 5);
  xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.sport = 1, .dport = 2}));
  KernelCounters c = progs_->read_counters();
  EXPECT_EQ(c.slots[5][SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)], 1u);
  EXPECT_EQ(c.slots[5][SNIFFER_STAT_RECORDS], 1u);
  EXPECT_EQ(c.slots[1][SNIFFER_STAT_RECORDS], 0u);
  progs_->remove_interface(kLoopback);
  xdp(test::ipv4_frame("198.51.100.10", "192.0.2.10", L4{.sport = 1, .dport = 2}));
  EXPECT_EQ(progs_->read_counters().slots[0][SNIFFER_STAT_UNCONFIGURED], 1u);
  EXPECT_THROW(progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 0), std::exception);
}

TEST_F(ProgramsTest, MapsAndProgramsHaveTheirBpftoolNames) {
  load();
  for (const char* name : {SNIFFER_MAP_IFACE_CONFIGS, SNIFFER_MAP_FILTER_SETTINGS, SNIFFER_MAP_PORT_FILTERS,
                           SNIFFER_MAP_EVENTS, SNIFFER_MAP_STATS, SNIFFER_MAP_BLOCK_SETTINGS, SNIFFER_MAP_BLOCK_SRC_V4,
                           SNIFFER_MAP_BLOCK_SRC_V6, SNIFFER_MAP_BLOCK_DST_V4, SNIFFER_MAP_BLOCK_DST_V6,
                           SNIFFER_MAP_ALLOW_V4, SNIFFER_MAP_ALLOW_V6}) {
    EXPECT_LE(std::strlen(name), 15u) << name;
  }
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(progs_->xdp_prog_fd(), &info, &len), 0);
  EXPECT_STREQ(info.name, "sniffer_xdp");
}

// ---- blocklist (prevention) ----

BlockRule rule(const char* prefix, BlockAction action = BlockAction::Drop,
               BlockDirection direction = BlockDirection::Source, std::uint64_t expires_mono_ns = 0) {
  BlockRule r;
  r.prefix = Prefix::parse(prefix);
  r.action = action;
  r.direction = direction;
  r.expires_mono_ns = expires_mono_ns;
  r.reason = "test";
  r.origin = "test";
  return r;
}

Bytes udp_from(const char* src, const char* dst = "192.0.2.10") {
  return test::ipv4_frame(src, dst, L4{.kind = L4::Udp, .sport = 4000, .dport = 53});
}

TEST_F(ProgramsTest, BlockedSourcesAreDroppedCountedAndRecorded) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  const BlockRule r = bl.add(rule("198.51.100.0/24"));

  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpDrop);
  ASSERT_EQ(records_.size(), 1u);  // record_dropped is on by default
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_BLOCKED);
  EXPECT_EQ(records_[0].header.block_rule_id, r.id);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.250")), kXdpDrop);

  EXPECT_EQ(xdp_verdict(udp_from("198.51.101.1")), kXdpPass);  // outside the /24
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_PASS);
  EXPECT_EQ(records_[0].header.block_rule_id, 0u);

  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 2u);
  EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)), 3u);  // still counted
  ASSERT_EQ(bl.list().size(), 1u);
  EXPECT_EQ(bl.list()[0].hits, 2u);
}

TEST_F(ProgramsTest, AllowlistWinsOverACoveringBlock) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_allowlist({Prefix::parse("198.51.100.10"), Prefix::parse("2001:db8:bad::5"), Prefix::parse("192.0.2.99")});
  // No block entry yet: the programs skip every lookup (the allowlist is not even consulted).
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpPass);
  EXPECT_EQ(stat(SNIFFER_STAT_ALLOWED), 0u);
  bl.add(rule("198.51.100.0/24"));
  bl.add(rule("2001:db8:bad::/48"));

  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpPass);  // allowlisted source
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.11")), kXdpDrop);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.11", "192.0.2.99")), kXdpPass);  // to an allowlisted address

  L4 udp{.kind = L4::Udp, .sport = 1, .dport = 2};
  EXPECT_EQ(xdp_verdict(test::ipv6_frame("2001:db8:bad::5", "2001:db8:200::10", udp)), kXdpPass);
  EXPECT_EQ(xdp_verdict(test::ipv6_frame("2001:db8:bad::6", "2001:db8:200::10", udp)), kXdpDrop);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_BLOCKED);
  EXPECT_EQ(xdp_verdict(test::ipv6_frame("2001:db8:bae::1", "2001:db8:200::10", udp)), kXdpPass);

  EXPECT_EQ(stat(SNIFFER_STAT_ALLOWED), 3u);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 2u);
  EXPECT_EQ(bl.allowlist_hits(), 3u);

  // A block the allowlist covers entirely would never apply: refused.
  try {
    bl.add(rule("198.51.100.10/32"));
    FAIL() << "a prefix inside the allowlist was accepted";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused);
  }
}

TEST_F(ProgramsTest, CountOnlyEntriesAndMonitorOnlyPass) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.0/24", BlockAction::Count));
  bl.add(rule("203.0.113.0/24", BlockAction::Drop));

  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpPass);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_MONITORED);

  bl.set_settings(true, true);  // monitor only: the drop entry counts, passes
  EXPECT_EQ(xdp_verdict(udp_from("203.0.113.7")), kXdpPass);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_MONITORED);
  bl.set_settings(false, true);
  EXPECT_EQ(xdp_verdict(udp_from("203.0.113.7")), kXdpDrop);

  EXPECT_EQ(stat(SNIFFER_STAT_BLOCK_MONITORED), 2u);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 1u);
}

TEST_F(ProgramsTest, DestinationRulesExpiryAndInterfacesWithoutBlocklist) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("192.0.2.66/32", BlockAction::Drop, BlockDirection::Destination));
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.1", "192.0.2.66")), kXdpDrop);
  EXPECT_EQ(xdp_verdict(udp_from("192.0.2.66", "198.51.100.1")), kXdpPass);  // as a source: not blocked

  // An entry past its expiry is ignored by the kernel at once, and the
  // daemon's sweep removes it.
  const std::uint64_t now = monotonic_now_ns();
  bl.add(rule("198.51.100.0/24", BlockAction::Drop, BlockDirection::Source, now + 200'000'000));
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.1")), kXdpDrop);
  usleep(250'000);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.1")), kXdpPass);
  auto gone = bl.expire(monotonic_now_ns());
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].prefix.text(), "198.51.100.0/24");
  EXPECT_EQ(gone[0].hits, 1u);
  EXPECT_EQ(bl.size(), 1u);

  // The same entries do nothing on an interface without the blocklist.
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Lan, 1, false);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.1", "192.0.2.66")), kXdpPass);
  EXPECT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].header.verdict, SNIFFER_VERDICT_PASS);
}

TEST_F(ProgramsTest, DroppedPacketsWithoutRecordsKeepTheIdentity) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_settings(false, false);  // no records for dropped packets
  bl.add(rule("198.51.100.0/24"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpDrop);
  EXPECT_TRUE(records_.empty());
  EXPECT_EQ(xdp_verdict(udp_from("203.0.113.1")), kXdpPass);
  const KernelStats t = progs_->read_stats();
  EXPECT_EQ(t[SNIFFER_STAT_BLOCKED_UNRECORDED], 3u);
  // packets = records + ring full + filtered + blocked unrecorded
  EXPECT_EQ(t[SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP)],
            t[SNIFFER_STAT_RECORDS] + t[SNIFFER_STAT_RINGBUF_FULL] + t[SNIFFER_STAT_FILTERED] +
                t[SNIFFER_STAT_BLOCKED_UNRECORDED]);
}

TEST_F(ProgramsTest, TcIngressShotsBlockedPacketsEgressNeverBlocks) {
  load();
  progs_->set_interface(kLoopback, Mode::HostBased, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.0/24"));
  EXPECT_EQ(run(progs_->tc_ingress_prog_fd(), udp_from("198.51.100.10"), true), kTcShot);
  EXPECT_EQ(run(progs_->tc_egress_prog_fd(), udp_from("198.51.100.10"), true), kTcContinue);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 1u);
}

TEST_F(ProgramsTest, AFullBlocklistIsAnErrorNotASilentFailure) {
  load({.blocklist_max_entries = 2});
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.1"));
  bl.add(rule("198.51.100.2"));
  try {
    bl.add(rule("198.51.100.3"));
    FAIL() << "a third entry fit in a trie of 2";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Full);
    EXPECT_NE(std::string(e.what()).find("blocklist.max_entries"), std::string::npos) << e.what();
  }
  EXPECT_EQ(bl.size(), 2u);
  bl.add(rule("198.51.100.2"));  // replacing an entry fits
  bl.add(rule("2001:db8::1"));   // the IPv6 trie has its own room
}

// The guard sits in Blocklist::add itself, the one way into the tries: a
// refused prefix never reaches the kernel (packets keep passing), whoever asks.
TEST_F(ProgramsTest, TheGuardKeepsLockoutBlocksOutOfTheKernelAndCountsThem) {
  load();
  progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_host_addresses_source([] { return std::vector<Prefix>{Prefix::parse("192.0.2.10")}; });
  BlocklistConfig config;
  config.protected_prefixes = {Prefix::parse("203.0.113.0/24")};
  bl.set_guard(blocklist_guard(config, ""));
  auto refused = [&](const char* prefix, RefusalReason reason, const std::vector<ProtectedPrefix>& extra = {}) {
    try {
      bl.add(rule(prefix), extra);
      ADD_FAILURE() << prefix << " was accepted";
    } catch (const BlocklistError& e) {
      EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused) << prefix;
      EXPECT_EQ(e.reason(), reason) << prefix << ": " << e.what();
    }
  };
  refused("0.0.0.0/0", RefusalReason::MinPrefix);
  refused("::/0", RefusalReason::MinPrefix);
  refused("192.0.2.0/24", RefusalReason::SensorAddress);  // the sensor's address as a destination
  refused("203.0.113.128/25", RefusalReason::Protected);
  refused("198.51.100.0/24", RefusalReason::ControlClient,
          {{Prefix::parse("198.51.100.10"), RefusalReason::ControlClient, "this command's sender"}});
  EXPECT_EQ(bl.size(), 0u);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpPass);  // nothing reached the tries
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.11", "192.0.2.10")), kXdpPass);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 0u);

  // Static entries pass the same guard.
  BlockRule whole = rule("0.0.0.0/0");
  EXPECT_THROW(bl.set_static({whole}), BlocklistError);
  EXPECT_EQ(bl.size(), 0u);

  // A legitimate block still drops.
  bl.add(rule("198.51.100.11"));
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.11")), kXdpDrop);
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.10")), kXdpPass);

  auto counts = bl.refused();
  EXPECT_EQ(counts[RefusalReason::MinPrefix], 3u);
  EXPECT_EQ(counts[RefusalReason::SensorAddress], 1u);
  EXPECT_EQ(counts[RefusalReason::Protected], 1u);
  EXPECT_EQ(counts[RefusalReason::ControlClient], 1u);
  EXPECT_EQ(counts[RefusalReason::Allowlist], 0u);

  // A reload that protects more revokes the control entries it now covers.
  config.protected_prefixes.push_back(Prefix::parse("198.51.100.0/24"));
  bl.set_guard(blocklist_guard(config, ""));
  auto gone = bl.revoke_refused();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].prefix.text(), "198.51.100.11/32");
  EXPECT_EQ(xdp_verdict(udp_from("198.51.100.11")), kXdpPass);
}

TEST_F(ProgramsTest, MissingBtfFileIsAClearError) {
  try {
    BpfPrograms p(LoadOptions{.btf_path = "/nonexistent/vmlinux.btf"});
    FAIL() << "loaded without BTF";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vmlinux.btf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sniffer
