// bpf tier, RingReader's peek: every packet sample reaches the peek handler
// exactly RingReader::kPeekAhead samples before the handler (fewer at the
// end of what is committed), each once and in ring order, across consume()s;
// none while the peek is switched off. And the group handler's order.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "programs_fixture.hpp"
#include "sniffer/ring_reader.hpp"

namespace sniffer::test {
namespace {

// "P<port>" for a peek, "H<port>" for a handled record, by UDP source port.
struct Log {
  std::vector<std::string> seen;
  void add(char what, std::uint16_t port) { seen.push_back(what + std::to_string(port)); }
};

// What consume() must log for ports [first, first + n) already in the ring.
std::vector<std::string> expected(std::uint16_t first, unsigned n) {
  std::vector<std::string> v;
  const unsigned k = RingReader::kPeekAhead;
  for (unsigned i = 0; i < std::min(n, k); ++i) v.push_back("P" + std::to_string(first + i));
  for (unsigned i = 0; i < n; ++i) {
    v.push_back("H" + std::to_string(first + i));
    if (i + k < n) v.push_back("P" + std::to_string(first + i + k));
  }
  return v;
}

TEST_F(ProgramsTest, RingReaderPeeksEachSampleKPeekAheadBeforeHandlingIt) {
  load({.payload_bytes = 16});
  configure();
  Log log;
  RingReader reader(progs_->events_map_fd(), payload_, [&](const DecodedRecord& r) { log.add('H', r.header.sport); });
  reader.set_peek([&](const void* data, std::size_t size) {
    ASSERT_GE(size, sizeof(sniffer_record));
    sniffer_record r;
    std::memcpy(&r, data, sizeof r);
    log.add('P', r.sport);
  });
  auto send = [&](std::uint16_t first, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      const auto port = static_cast<std::uint16_t>(first + i);
      EXPECT_EQ(run_unread(Hook::Xdp, Frame{}.ipv4().udp({.sport = port, .dport = 9, .payload = "x"})), kXdpPass);
    }
  };
  send(1000, 20);
  reader.consume();
  EXPECT_EQ(log.seen, expected(1000, 20));
  // Fewer samples than the peek distance, then none.
  log.seen.clear();
  send(2000, 3);
  reader.consume();
  EXPECT_EQ(log.seen, expected(2000, 3));
  log.seen.clear();
  reader.consume();
  EXPECT_TRUE(log.seen.empty());
  EXPECT_EQ(reader.counters().records_received, 23u);
  // Switched off (a worker whose flow table fits the caches): no peek, every
  // record handled; switched on again, the peeks are back.
  log.seen.clear();
  reader.set_peek_active(false);
  send(3000, 8);
  reader.consume();
  std::vector<std::string> handled;
  for (unsigned i = 0; i < 8; ++i) handled.push_back("H" + std::to_string(3000 + i));
  EXPECT_EQ(log.seen, handled);
  log.seen.clear();
  reader.set_peek_active(true);
  send(4000, 9);
  reader.consume();
  EXPECT_EQ(log.seen, expected(4000, 9));
}

// With a group handler, consume() hands packet records over in groups of
// up to RingReader::kGroup, in ring order, none to the one-record handler;
// while a peek is active, one by one as before.
TEST_F(ProgramsTest, RingReaderHandsPacketRecordsOverInGroupsInRingOrder) {
  load({.payload_bytes = 16});
  configure();
  Log log;
  std::vector<std::size_t> sizes;
  RingReader reader(progs_->events_map_fd(), payload_, [&](const DecodedRecord& r) { log.add('H', r.header.sport); });
  reader.set_group_handler([&](const DecodedRecord* const* records, std::size_t n) {
    sizes.push_back(n);
    for (std::size_t i = 0; i < n; ++i) {
      log.add('G', records[i]->header.sport);
      EXPECT_EQ(records[i]->snippet.size(), 1u);  // "x", read while the ring still holds it
    }
  });
  auto send = [&](std::uint16_t first, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      const auto port = static_cast<std::uint16_t>(first + i);
      EXPECT_EQ(run_unread(Hook::Xdp, Frame{}.ipv4().udp({.sport = port, .dport = 9, .payload = "x"})), kXdpPass);
    }
  };
  const unsigned k = RingReader::kGroup;
  send(5000, 2 * k + 5);
  reader.consume();
  std::vector<std::string> grouped;
  for (unsigned i = 0; i < 2 * k + 5; ++i) grouped.push_back("G" + std::to_string(5000 + i));
  EXPECT_EQ(log.seen, grouped);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{k, k, 5}));
  EXPECT_EQ(reader.counters().records_received, 2 * k + 5);
  // A peek active (a table past the caches): one by one, as without groups.
  log.seen.clear();
  reader.set_peek([](const void*, std::size_t) {});
  send(6000, 3);
  reader.consume();
  EXPECT_EQ(log.seen, (std::vector<std::string>{"H6000", "H6001", "H6002"}));
  reader.set_peek_active(false);
  log.seen.clear();
  send(7000, 2);
  reader.consume();
  EXPECT_EQ(log.seen, (std::vector<std::string>{"G7000", "G7001"}));
}

}  // namespace
}  // namespace sniffer::test
