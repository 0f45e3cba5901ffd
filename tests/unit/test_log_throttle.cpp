// LogThrottle: one line per key per interval, counting what it left out; an
// overall cap per interval, reported once; a bounded memory of keys. The
// control socket's warnings and the ZAP handler's refusals both use it.
#include <gtest/gtest.h>

#include "sniffer/log_throttle.hpp"

using sniffer::LogThrottle;

namespace {
constexpr std::uint64_t kS = 1'000'000'000;
}

TEST(LogThrottle, OneLinePerKeyPerIntervalCountingTheRest) {
  LogThrottle t(LogThrottle::Limits{.interval_ns = 60 * kS});
  auto v = t.check("a", 1 * kS);
  EXPECT_TRUE(v.log);
  EXPECT_TRUE(v.first);
  EXPECT_FALSE(t.check("a", 2 * kS).log);
  EXPECT_FALSE(t.check("a", 60 * kS).log);
  EXPECT_TRUE(t.check("b", 3 * kS).log);  // another key has its own interval
  v = t.check("a", 61 * kS);
  EXPECT_TRUE(v.log);
  EXPECT_FALSE(v.first);
  EXPECT_EQ(v.left_out, 2u);
  EXPECT_EQ(t.check("a", 122 * kS).left_out, 0u);
}

TEST(LogThrottle, TheOverallCapHoldsLinesBackAndSaysHowManyOnce) {
  LogThrottle t(LogThrottle::Limits{.interval_ns = 60 * kS, .max_lines = 2});
  EXPECT_TRUE(t.check("k1", 1 * kS).log);
  EXPECT_TRUE(t.check("k2", 1 * kS).log);
  EXPECT_FALSE(t.check("k3", 1 * kS).log);
  EXPECT_FALSE(t.check("k4", 2 * kS).log);
  const auto v = t.check("k3", 62 * kS);  // the next interval: k3 was never logged
  EXPECT_EQ(v.capped, 2u);
  EXPECT_TRUE(v.log);
  EXPECT_TRUE(v.first);
  EXPECT_EQ(t.check("k5", 62 * kS).capped, 0u);
}

TEST(LogThrottle, AFloodOfNewKeysNeverGrowsItsMemoryPastTheBound) {
  LogThrottle t(LogThrottle::Limits{.interval_ns = 60 * kS, .max_keys = 100});
  for (int i = 0; i < 10000; ++i) t.check("key" + std::to_string(i), 1 * kS + i);
  EXPECT_LE(t.keys(), 100u);
}
