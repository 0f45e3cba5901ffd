// bpf tier, full-packet capture: frames of every shape the parser knows are
// copied whole into the captures ring, at every hook; the snap length cuts a
// frame, the record's size cuts a larger one (flagged); the filters match
// prefixes, ports, protocol and a flow both ways, several at once; a full ring
// loses records, counted per capture, and never a packet.
#include <gtest/gtest.h>

#include <bpf/bpf.h>

#include <cstring>

#include "programs_fixture.hpp"
#include "sniffer/capture_filter.hpp"

namespace sniffer::test {
namespace {

struct CaptureRecord {
  sniffer_capture_record header;
  Bytes data;
};

class CaptureTest : public ProgramsTest {
 protected:
  void load_capture(std::uint32_t ring_bytes = 1u << 20) {
    LoadOptions options;
    options.capture_ring_bytes = ring_bytes;
    load(options);
    configure(Mode::Gateway, Role::Wan, kSlot);
    captures_ring_ = ring_buffer__new(progs_->capture_ring_fd(), &CaptureTest::on_capture, this, nullptr);
    ASSERT_NE(captures_ring_, nullptr);
  }
  void TearDown() override {
    if (captures_ring_) ring_buffer__free(captures_ring_);
    ProgramsTest::TearDown();
  }
  // Capture slot `slot` takes `filter` (the daemon's text) with `snaplen`.
  void start(std::uint32_t slot, const std::string& filter, std::uint32_t snaplen = 65535) {
    sniffer_capture_filter f = parse_capture_filter(filter, {});
    f.snaplen = snaplen;
    ASSERT_EQ(bpf_map_update_elem(progs_->capture_slots_map_fd(), &slot, &f, BPF_ANY), 0);
    active_ |= 1u << slot;
    progs_->set_capture_active(active_);
  }
  // Runs the frame, expects it to pass, returns what the captures ring got.
  std::vector<CaptureRecord> captured(const Bytes& frame, Hook hook = Hook::Xdp) {
    got_.clear();
    EXPECT_EQ(run(hook, frame), hook == Hook::Xdp ? kXdpPass : kTcContinue);
    ring_buffer__consume(captures_ring_);
    return got_;
  }
  sniffer_capture_counts counts(std::uint32_t slot) const {
    std::vector<sniffer_capture_counts> per_cpu(libbpf_num_possible_cpus());
    const std::uint32_t key = SNIFFER_CAPTURE_COUNT_INDEX(slot, kSlot);
    EXPECT_EQ(bpf_map_lookup_elem(progs_->capture_counts_map_fd(), &key, per_cpu.data()), 0);
    sniffer_capture_counts sum{};
    for (const auto& c : per_cpu) sum.matched += c.matched, sum.ring_full += c.ring_full;
    return sum;
  }

  static constexpr std::uint8_t kSlot = 3;  // the interface's stats slot

 private:
  static int on_capture(void* ctx, void* data, std::size_t size) {
    CaptureRecord r;
    EXPECT_GE(size, sizeof r.header);
    std::memcpy(&r.header, data, sizeof r.header);
    EXPECT_EQ(size, sizeof r.header + r.header.cap_len);
    const auto* bytes = static_cast<const std::uint8_t*>(data) + sizeof r.header;
    r.data.assign(bytes, bytes + std::min<std::size_t>(r.header.cap_len, size - sizeof r.header));
    static_cast<CaptureTest*>(ctx)->got_.push_back(r);
    return 0;
  }

  ring_buffer* captures_ring_ = nullptr;
  std::uint32_t active_ = 0;
  std::vector<CaptureRecord> got_;
};

TEST_F(CaptureTest, EveryShapeOfFrameIsCopiedWholeAtEveryHook) {
  load_capture();
  start(0, "");
  const std::vector<std::pair<std::string, Bytes>> frames = {
      {"IPv4 TCP", Frame{}.ipv4({.ihl = 6}).tcp({.sport = 40000, .dport = 443, .flags = kSyn, .payload = "hi"})},
      {"IPv6 UDP after extension headers", Frame{}.ipv6({.ext = {0, 60}}).udp({.sport = 5353, .dport = 53})},
      {"ICMP", Frame{}.ipv4({}).icmp({.type = 8})},
      {"ICMPv6", Frame{}.ipv6({}).icmp6({})},
      {"QinQ", Frame{}.vlan(10).vlan(20, 0x88a8).ipv4({}).udp({.sport = 1, .dport = 2})},
      {"three VLAN tags", Frame{}.vlan(1).vlan(2).vlan(3).ipv4({}).udp({})},
      {"MPLS", Frame{}.mpls(29).ipv4({}).udp({.sport = 1, .dport = 2}).pad_to(64)},
      {"IPv4 fragment", Frame{}.ipv4({.frag_field = 185}).udp({.payload = std::string(40, 'f')})},
      {"IPv6 fragment", Frame{}.ipv6({.ext = {44}, .frag_offset = 1448, .more_fragments = true}).udp({})},
      {"SCTP", Frame{}.ipv4({}).raw({.proto = 132, .payload = std::string(28, 's')})},
      {"ARP (not IP)", Frame{}.ethertype(0x0806).pad_to(42)},
      {"a header cut short", Frame{}.ipv4({}).tcp({.sport = 1, .dport = 2}).cut(14 + 20 + 6)},
      {"Ethernet padding", Frame{}.ipv4({}).udp({.sport = 1, .dport = 2}).pad_to(60, 0xee)},
  };
  for (const auto& [what, frame] : frames) {
    for (Hook hook : {Hook::Xdp, Hook::TcIngress, Hook::TcEgress}) {
      const auto got = captured(frame, hook);
      ASSERT_EQ(got.size(), 1u) << what;
      const sniffer_capture_record& h = got[0].header;
      EXPECT_EQ(h.magic, SNIFFER_CAPTURE_RECORD_MAGIC) << what;
      EXPECT_EQ(h.abi_version, SNIFFER_ABI_VERSION) << what;
      EXPECT_EQ(h.ifindex, kLoopback) << what;
      EXPECT_EQ(h.wire_len, frame.size()) << what;
      EXPECT_EQ(h.cap_len, frame.size()) << what;
      EXPECT_EQ(h.slots, 1u) << what;
      EXPECT_EQ(h.flags, 0u) << what;
      EXPECT_EQ(h.source, SNIFFER_CAPTURE_SOURCE_SLOTS) << what;
      EXPECT_EQ(h.hook, hook == Hook::Xdp         ? SNIFFER_HOOK_XDP_INGRESS
                        : hook == Hook::TcIngress ? SNIFFER_HOOK_TC_INGRESS
                                                  : SNIFFER_HOOK_TC_EGRESS)
          << what;
      EXPECT_GT(h.ts_mono_ns, 0u) << what;
      EXPECT_EQ(got[0].data, frame) << what;
    }
  }
  EXPECT_EQ(counts(0).matched, frames.size() * 3);
  EXPECT_EQ(counts(0).ring_full, 0u);
}

TEST_F(CaptureTest, TheSnapLengthCutsAFrameAndTheRecordSizeCutsALargerOneFlagged) {
  load_capture();
  start(0, "", 60);
  const Bytes frame = Frame{}.ipv4({}).udp({.sport = 1, .dport = 2, .payload = std::string(200, 'p')});
  auto got = captured(frame);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header.cap_len, 60u);
  EXPECT_EQ(got[0].header.wire_len, frame.size());
  EXPECT_EQ(got[0].header.flags, 0u);  // the capture asked for 60 bytes
  EXPECT_EQ(got[0].data, Bytes(frame.begin(), frame.begin() + 60));

  // A jumbo frame (multi-buffer XDP) longer than the ring record: cut at
  // SNIFFER_CAPTURE_MAX_BYTES, flagged.
  start(1, "proto udp", 65535);
  const Bytes jumbo = Frame{}.ipv4({}).udp({.sport = 1, .dport = 2, .payload = std::string(8000, 'j')});
  got = captured(jumbo);
  ASSERT_EQ(got.size(), 1u);  // one record for both slots
  EXPECT_EQ(got[0].header.slots, 3u);
  EXPECT_EQ(got[0].header.cap_len, SNIFFER_CAPTURE_MAX_BYTES);  // the larger snap length of the two
  EXPECT_EQ(got[0].header.wire_len, jumbo.size());
  EXPECT_EQ(got[0].header.flags, SNIFFER_CAPTURE_CUT_RECORD);
  EXPECT_EQ(got[0].data, Bytes(jumbo.begin(), jumbo.begin() + SNIFFER_CAPTURE_MAX_BYTES));
}

TEST_F(CaptureTest, FiltersMatchPrefixesPortsProtocolAndAFlowBothWays) {
  load_capture();
  start(0, "flow udp 198.51.100.10:5000 192.0.2.10:53");
  start(1, "net 2001:db8:200::/48 port 443");
  start(2, "host 192.0.2.10 host 203.0.113.9");
  const auto udp = [](const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport) {
    return Frame{}.ipv4({.src = src, .dst = dst}).udp({.sport = sport, .dport = dport}).bytes();
  };
  const auto slots = [&](const Bytes& frame) {
    const auto got = captured(frame);
    return got.empty() ? 0u : static_cast<unsigned>(got[0].header.slots);
  };
  EXPECT_EQ(slots(udp("198.51.100.10", "192.0.2.10", 5000, 53)), 1u);  // the flow, forward
  EXPECT_EQ(slots(udp("192.0.2.10", "198.51.100.10", 53, 5000)), 1u);  // and back
  EXPECT_EQ(slots(udp("198.51.100.10", "192.0.2.10", 5001, 53)), 0u);  // another source port
  EXPECT_EQ(slots(Frame{}.ipv4({}).tcp({.sport = 5000, .dport = 53})), 0u);  // the same ports over TCP
  EXPECT_EQ(slots(Frame{}.ipv6({.src = "2001:db8:200::7", .dst = "2001:db8:100::1"})
                      .tcp({.sport = 443, .dport = 3000})),
            2u);  // the prefix's end has port 443
  EXPECT_EQ(slots(Frame{}.ipv6({.src = "2001:db8:200::7", .dst = "2001:db8:100::1"})
                      .tcp({.sport = 3000, .dport = 443})),
            0u);  // port 443 is at the other end
  EXPECT_EQ(slots(udp("203.0.113.9", "192.0.2.10", 1, 2)), 4u);  // between the two hosts, either way
  EXPECT_EQ(slots(udp("192.0.2.10", "203.0.113.9", 1, 2)), 4u);
  EXPECT_EQ(slots(udp("192.0.2.10", "203.0.113.8", 1, 2)), 0u);
  EXPECT_EQ(slots(Frame{}.ethertype(0x0806).pad_to(42)), 0u);  // not IP: no prefix matches it

  // No capture active: nothing, whatever the slots hold.
  progs_->set_capture_active(0);
  EXPECT_EQ(slots(udp("198.51.100.10", "192.0.2.10", 5000, 53)), 0u);
  EXPECT_EQ(counts(0).matched, 2u);
  EXPECT_EQ(counts(2).matched, 2u);
}

TEST_F(CaptureTest, AFullRingLosesRecordsCountedPerCaptureAndNeverAPacket) {
  load_capture(4096);
  start(5, "proto udp");
  const Bytes frame = Frame{}.ipv4({}).udp({.sport = 1, .dport = 2, .payload = std::string(1000, 'x')});
  int passed = 0;
  for (int i = 0; i < 10; ++i) passed += run_unread(Hook::Xdp, frame) == kXdpPass;  // the ring is not read
  EXPECT_EQ(passed, 10);
  const sniffer_capture_counts c = counts(5);
  EXPECT_EQ(c.matched, 10u);
  // 4096 bytes hold 3 records of 8 + 32 + 1042 bytes.
  EXPECT_EQ(c.ring_full, 7u);
  EXPECT_EQ(captured(Frame{}.ipv4({}).tcp({.sport = 1, .dport = 2})).size(), 3u);  // the 3 kept; TCP: no match
}

}  // namespace
}  // namespace sniffer::test
