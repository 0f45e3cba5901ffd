// bpf tier, ring records: the payload snippet, frames spanning buffers, a
// full ring, and the loader's own checks (names, bounds, BTF).
#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

TEST_F(ProgramsTest, PayloadSnippetIsCopiedUpToTheConfiguredLength) {
  load({.payload_bytes = 16});
  configure();
  const Bytes request = Frame{}.ipv4().udp({.sport = 1, .dport = 2, .payload = "GET /index.html HTTP/1.1\r\n"});
  check({
      {.description = "a long payload: the first 16 bytes",
       .frame = request,
       .record = RecordFields{.record_len = sizeof(sniffer_record) + 16, .snippet_len = 16,
                              .snippet = "GET /index.html "}},
      {.description = "a short payload: only its bytes, not the Ethernet padding after it",
       .frame = Frame{}.ipv4().udp({.sport = 1, .dport = 2, .payload = "hi"}).pad_to(60, 0xee),
       .record = RecordFields{.snippet_len = 2, .snippet = "hi"}},
      {.description = "through TC as well (bpf_skb_load_bytes)",
       .frame = request,
       .verdict = kTcContinue,
       .record = RecordFields{.snippet = "GET /index.html "},
       .hook = Hook::TcEgress},
  });
}

// XDP copies a snippet of 8 to 64 bytes word by word straight from the frame
// (record.bpf.h, copy_snippet_direct; the last word overlaps the one before
// when the length is not a multiple of 8), a shorter one or one beyond the
// frame's first buffer through bpf_xdp_load_bytes: the same bytes either way,
// and as TC's bpf_skb_load_bytes copies them. The record's snippet area is
// the snippet's length rounded up to 8 while that is below the capacity and
// 64, else the capacity (abi.h).
class SnippetTest : public ProgramsTest {
 protected:
  void expect_snippets(std::uint32_t cap);
};

void SnippetTest::expect_snippets(std::uint32_t cap) {
  std::string payload;
  for (int i = 0; i < 100; ++i) payload += static_cast<char>(i * 7 + 3);
  for (std::size_t len : {std::size_t{100}, std::size_t{64}, std::size_t{63}, cap - std::size_t{1}, std::size_t{57},
                          std::size_t{56}, std::size_t{18}, std::size_t{9}, std::size_t{8}, std::size_t{7},
                          std::size_t{1}, std::size_t{0}}) {
    const std::string p = payload.substr(0, len);
    const std::string want = p.substr(0, std::min<std::size_t>(cap, len));
    const std::size_t rounded = (want.size() + 7) / 8 * 8;
    const std::size_t area = rounded < cap && rounded < 64 ? rounded : cap;
    for (std::uint8_t pad : {0, 0xee}) {  // a short frame padded to 60 bytes: the padding is not payload
      const Bytes frame = Frame{}.ipv4().udp({.sport = 1, .dport = 2, .payload = p}).pad_to(pad ? 60 : 0, pad);
      for (Hook hook : {Hook::Xdp, Hook::TcEgress}) {
        check(Row{.description = "cap " + std::to_string(cap) + ", payload " + std::to_string(len) + ", pad " +
                                 std::to_string(pad),
                  .frame = frame,
                  .verdict = hook == Hook::Xdp ? kXdpPass : kTcContinue,
                  .record = RecordFields{.record_len = sizeof(sniffer_record) + area,
                                         .snippet_len = want.size(),
                                         .snippet = want},
                  .hook = hook});
      }
    }
  }
}

TEST_F(SnippetTest, Of64BytesIsTheFramesBytesOnEveryPath) {
  load({.payload_bytes = 64});
  configure();
  expect_snippets(64);
}

TEST_F(SnippetTest, Of8BytesIsTheFramesBytesOnEveryPath) {
  load({.payload_bytes = 8});
  configure();
  expect_snippets(8);
}

TEST_F(SnippetTest, Of20BytesIsTheFramesBytesOnEveryPath) {  // not a multiple of 8
  load({.payload_bytes = 20});
  configure();
  expect_snippets(20);
}

TEST_F(SnippetTest, Of100BytesIsTheFramesBytesOnEveryPath) {  // above 64: areas of 0..56 bytes, else 100
  load({.payload_bytes = 100});
  configure();
  expect_snippets(100);
}

TEST_F(ProgramsTest, JumboFramesSpanningBuffersAreMeasuredWhole) {
  load({.payload_bytes = 8});
  configure();
  // 9000 bytes do not fit one page: the test run builds a multi-buffer frame.
  const Bytes frame = Frame{}.ipv4().tcp({.sport = 2049, .dport = 700, .payload = "NFSDATA!" + std::string(8900, 'z')});
  check(Row{.description = "a 9000-byte frame",
            .frame = frame,
            .record = RecordFields{.wire_len = frame.size(), .sport = 2049, .ip_total_len = frame.size() - 14,
                                   .snippet = "NFSDATA!"},
            .counters = {{SNIFFER_STAT_BYTES(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_TCP), frame.size()}}});
}

TEST_F(ProgramsTest, LoadsAtTheSnippetBounds) {
  // The verifier must accept the snippet copy at both ends of its range.
  for (std::uint32_t cap : {1u, static_cast<std::uint32_t>(SNIFFER_MAX_PAYLOAD_BYTES)}) {
    BpfPrograms p(LoadOptions{.ring_buffer_bytes = 1u << 16, .payload_bytes = cap});
    EXPECT_GE(p.xdp_prog_fd(), 0);
  }
}

TEST_F(ProgramsTest, FullRingDropsAreCountedExactly) {
  // The smallest ring (one page) holds 4096 / (112 + 8 header) records.
  load({.ring_buffer_bytes = 4096});
  configure();
  const Bytes frame = Frame{}.ipv4().udp({.sport = 1, .dport = 2});
  constexpr int kSent = 100;
  for (int i = 0; i < kSent; ++i) EXPECT_EQ(run_unread(Hook::Xdp, frame), kXdpPass);  // nobody reads
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
}  // namespace sniffer::test
