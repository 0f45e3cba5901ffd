// The subscribers' batch sequence check (sniffer/sequence_check.hpp): what
// sniffer-sub reports as missing batches and bench/sub_fast writes as "seq".
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/sequence_check.hpp"

namespace sniffer {

void PrintTo(const SequenceCount& c, std::ostream* os) {
  *os << "{batches " << c.batches << ", first " << c.first << ", last " << c.last << ", gaps " << c.gaps
      << ", missing " << c.missing << ", out_of_order " << c.out_of_order << ", restarts " << c.restarts
      << ", sensor_start_ns " << c.sensor_start_ns << "}";
}

namespace {

constexpr std::uint64_t kStart = 1'700'000'000'000'000'000;

using Gaps = std::vector<std::uint64_t>;

// The gap see() returns for each sequence, all of one sensor start.
Gaps feed(SequenceCheck& check, const char* topic, std::initializer_list<std::uint64_t> seqs,
          std::uint64_t start = kStart) {
  Gaps gaps;
  for (std::uint64_t s : seqs) gaps.push_back(check.see(topic, start, s));
  return gaps;
}

TEST(SequenceCheck, InOrderHasNothingMissing) {
  SequenceCheck check;
  EXPECT_EQ(feed(check, "pkt", {1, 2, 3, 4}), (Gaps{0, 0, 0, 0}));
  EXPECT_EQ(check.count("pkt"), (SequenceCount{.batches = 4, .first = 1, .last = 4, .sensor_start_ns = kStart}));
}

TEST(SequenceCheck, JoiningLateIsNoLoss) {
  SequenceCheck check;
  EXPECT_EQ(feed(check, "pkt", {500, 501}), (Gaps{0, 0}));
  EXPECT_EQ(check.count("pkt"), (SequenceCount{.batches = 2, .first = 500, .last = 501, .sensor_start_ns = kStart}));
}

TEST(SequenceCheck, AGapCountsTheMissingNumbers) {
  SequenceCheck check;
  EXPECT_EQ(feed(check, "flow", {1, 2, 5, 6, 8}), (Gaps{0, 0, 2, 0, 1}));
  EXPECT_EQ(check.count("flow"), (SequenceCount{.batches = 5, .first = 1, .last = 8, .gaps = 2, .missing = 3,
                                                .sensor_start_ns = kStart}));
}

TEST(SequenceCheck, ARepeatOrAReorderingIsOutOfOrderNotMissing) {
  SequenceCheck check;
  // 2 twice; 5 before 3 and 4: nothing is missing after 5 but the 2 numbers of its gap.
  EXPECT_EQ(feed(check, "pkt", {1, 2, 2, 5, 3, 4, 6}), (Gaps{0, 0, 0, 2, 0, 0, 0}));
  EXPECT_EQ(check.count("pkt"), (SequenceCount{.batches = 7, .first = 1, .last = 6, .gaps = 1, .missing = 2,
                                               .out_of_order = 3, .sensor_start_ns = kStart}));
}

TEST(SequenceCheck, ASensorRestartStartsTheSequenceOver) {
  SequenceCheck check;
  feed(check, "pkt", {1, 2, 3});
  // The restarted sensor numbers from 1 again: neither out of order nor a gap.
  EXPECT_EQ(feed(check, "pkt", {1, 2, 4}, kStart + 1), (Gaps{0, 0, 1}));
  EXPECT_EQ(check.count("pkt"), (SequenceCount{.batches = 6, .first = 1, .last = 4, .gaps = 1, .missing = 1,
                                               .restarts = 1, .sensor_start_ns = kStart + 1}));
}

TEST(SequenceCheck, TopicsAreIndependent) {
  SequenceCheck check;
  // Interleaved: each topic has its own numbers and its own sensor start.
  EXPECT_EQ(check.see("pkt", kStart, 1), 0u);
  EXPECT_EQ(check.see("flow", kStart, 7), 0u);
  EXPECT_EQ(check.see("pkt", kStart, 2), 0u);
  EXPECT_EQ(check.see("flow", kStart, 9), 1u);
  EXPECT_EQ(check.see("stats", kStart + 1, 1), 0u);
  EXPECT_EQ(check.see("pkt", kStart, 3), 0u);
  EXPECT_EQ(check.count("pkt"), (SequenceCount{.batches = 3, .first = 1, .last = 3, .sensor_start_ns = kStart}));
  EXPECT_EQ(check.count("flow"), (SequenceCount{.batches = 2, .first = 7, .last = 9, .gaps = 1, .missing = 1,
                                                .sensor_start_ns = kStart}));
  EXPECT_EQ(check.count("stats"), (SequenceCount{.batches = 1, .first = 1, .last = 1, .sensor_start_ns = kStart + 1}));
  EXPECT_EQ(check.count("none"), SequenceCount{});
  ASSERT_EQ(check.topics().size(), 3u);
  EXPECT_EQ(check.topics().begin()->first, "flow");  // by name: sniffer-sub's summary order
}

}  // namespace
}  // namespace sniffer
