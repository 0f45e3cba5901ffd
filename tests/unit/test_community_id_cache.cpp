// CommunityIdCache (record_processor.hpp): whatever the order, collisions and
// seeds, every answer is community_id() of exactly the tuple asked for.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sniffer/community_id.hpp"
#include "sniffer/record_processor.hpp"

namespace sniffer {
namespace {

CommunityIdTuple tuple_of(std::uint32_t i, bool v6) {
  std::uint8_t src[16] = {}, dst[16] = {};
  src[0] = 198, src[1] = 51, src[2] = 100, src[3] = static_cast<std::uint8_t>(i >> 16);
  dst[0] = 192, dst[1] = 0, dst[2] = 2, dst[3] = 10;
  if (v6) src[15] = static_cast<std::uint8_t>(i), dst[15] = 1;
  return community_id_tuple(v6 ? 6 : 4, src, dst, i % 3 == 0 ? 6 : 17, static_cast<std::uint16_t>(1024 + i % 5000),
                            static_cast<std::uint16_t>(i % 7 == 0 ? 53 : 443), false);
}

TEST(CommunityIdCache, EveryAnswerIsTheTuplesOwnId) {
  CommunityIdCache cache;
  std::mt19937 rng(7);
  // More tuples than slots: evictions and slot collisions, revisits in random order.
  std::vector<CommunityIdTuple> tuples;
  for (std::uint32_t i = 0; i < 3 * CommunityIdCache::kSlots; ++i) tuples.push_back(tuple_of(i * 7919u, i % 2 == 1));
  for (int n = 0; n < 40000; ++n) {
    const CommunityIdTuple& t = tuples[rng() % tuples.size()];
    const std::uint16_t seed = n % 5 == 0 ? 1 : 0;
    ASSERT_EQ(cache.get(t, seed), community_id(t, seed)) << "request " << n;
  }
}

TEST(CommunityIdCache, TuplesDifferingInOneFieldGetTheirOwnIds) {
  CommunityIdCache cache;
  const CommunityIdTuple base = tuple_of(1, false);
  std::vector<CommunityIdTuple> variants(6, base);
  variants[1].sport ^= 1;
  variants[2].dport ^= 1;
  variants[3].proto = 6;
  variants[4].src[3] ^= 1;
  variants[5].dst[15] ^= 1;
  for (int round = 0; round < 3; ++round) {
    for (const CommunityIdTuple& t : variants) EXPECT_EQ(cache.get(t, 0), community_id(t, 0));
  }
  EXPECT_NE(cache.get(variants[0], 0), community_id(variants[1], 0));
}

}  // namespace
}  // namespace sniffer
