#include <gtest/gtest.h>

#include "sniffer/rate_limiter.hpp"

namespace sniffer {
namespace {

constexpr std::uint64_t kSec = 1'000'000'000;

TEST(RateLimiter, BurstThenSteadyRatePerClient) {
  RateLimiter limit(2.0, 3);  // 2 a second, bursts of 3
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.allow("a", 10 * kSec)) << i;
  EXPECT_FALSE(limit.allow("a", 10 * kSec));
  EXPECT_TRUE(limit.allow("b", 10 * kSec));  // another client has its own bucket
  EXPECT_FALSE(limit.allow("a", 10 * kSec + kSec / 4));  // half a token back
  EXPECT_TRUE(limit.allow("a", 10 * kSec + kSec / 2));   // one token back
  EXPECT_FALSE(limit.allow("a", 10 * kSec + kSec / 2));
  // A long pause refills only up to the burst.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.allow("a", 100 * kSec)) << i;
  EXPECT_FALSE(limit.allow("a", 100 * kSec));
}

TEST(RateLimiter, ClockGoingBackwardsGivesNothing) {
  RateLimiter limit(1.0, 1);
  EXPECT_TRUE(limit.allow("a", 5 * kSec));
  EXPECT_FALSE(limit.allow("a", 1 * kSec));
  EXPECT_FALSE(limit.allow("a", 5 * kSec));
  EXPECT_TRUE(limit.allow("a", 6 * kSec));
}

}  // namespace
}  // namespace sniffer
