// FlowIndex, the flow table's open-addressing index: insert/find/erase,
// backward-shift deletion under forced collisions (hashes chosen by hand, a
// tiny table), the full table, growth, and a randomized comparison against
// std::unordered_map.
#include <algorithm>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_index.hpp"

namespace sniffer {
namespace {

constexpr std::uint32_t kNone = FlowIndex::kNone;

// The index stores (hash, slot); the key is the caller's. Here a "key" is
// a number, the slot's key is keys[slot].
struct Model {
  std::vector<std::uint64_t> keys;
  std::uint32_t find(const FlowIndex& ix, std::uint32_t h, std::uint64_t key) const {
    return ix.find(h, [&](std::uint32_t slot) { return keys.at(slot) == key; });
  }
};

TEST(FlowIndex, InsertFindErase) {
  FlowIndex ix(100, 1);
  Model m;
  m.keys = {10, 11, 12};
  EXPECT_EQ(ix.size(), 0u);
  EXPECT_EQ(m.find(ix, 7, 10), kNone);
  ASSERT_TRUE(ix.insert(7, 0));
  ASSERT_TRUE(ix.insert(8, 1));
  ASSERT_TRUE(ix.insert(7, 2));  // same hash, other key
  EXPECT_EQ(ix.size(), 3u);
  EXPECT_EQ(m.find(ix, 7, 10), 0u);
  EXPECT_EQ(m.find(ix, 8, 11), 1u);
  EXPECT_EQ(m.find(ix, 7, 12), 2u);
  EXPECT_EQ(m.find(ix, 8, 10), kNone);   // right key, wrong hash
  EXPECT_EQ(m.find(ix, 7, 99), kNone);   // right hash, no such key
  EXPECT_TRUE(ix.erase(7, 0));
  EXPECT_FALSE(ix.erase(7, 0));          // already gone
  EXPECT_FALSE(ix.erase(9, 1));          // wrong hash: not found on its probe path
  EXPECT_EQ(m.find(ix, 7, 10), kNone);
  EXPECT_EQ(m.find(ix, 7, 12), 2u);
  EXPECT_EQ(m.find(ix, 8, 11), 1u);
  EXPECT_EQ(ix.size(), 2u);
  EXPECT_FALSE(ix.insert(1, kNone));     // kNone is not a slot
  ix.clear();
  EXPECT_EQ(ix.size(), 0u);
  EXPECT_EQ(m.find(ix, 8, 11), kNone);
}

TEST(FlowIndex, BucketCountIsAPowerOfTwoAtLeastTwiceTheEntries) {
  for (std::uint32_t n : {0u, 1u, 2u, 3u, 5u, 8u, 1000u, 65536u, 65537u}) {
    FlowIndex ix(n, 1);
    const std::size_t want = n == 0 ? 1 : n;
    EXPECT_EQ(ix.max_entries(), want);
    EXPECT_GE(ix.max_bucket_count(), 2 * want);
    EXPECT_LT(ix.max_bucket_count(), 4 * want);
    EXPECT_EQ(ix.max_bucket_count() & (ix.max_bucket_count() - 1), 0u);
    EXPECT_LE(ix.bucket_count(), ix.max_bucket_count());
  }
}

TEST(FlowIndex, GrowsOnDemandAndStaysAtMostHalfFull) {
  FlowIndex ix(65536, 1);
  EXPECT_LE(ix.bucket_count(), 16u);  // memory follows the entries present
  Model m;
  for (std::uint32_t i = 0; i < 65536; ++i) {
    m.keys.push_back(i);
    ASSERT_TRUE(ix.insert(i * 2654435761u, i));
    ASSERT_LE(2 * ix.size(), ix.bucket_count());
  }
  EXPECT_EQ(ix.bucket_count(), ix.max_bucket_count());
  for (std::uint32_t i = 0; i < 65536; ++i) ASSERT_EQ(m.find(ix, i * 2654435761u, i), i);
}

TEST(FlowIndex, FullTableRefusesInsertUntilAnErase) {
  FlowIndex ix(3, 1);
  Model m;
  m.keys = {0, 1, 2, 3};
  ASSERT_TRUE(ix.insert(5, 0));
  ASSERT_TRUE(ix.insert(5, 1));
  ASSERT_TRUE(ix.insert(6, 2));
  EXPECT_FALSE(ix.insert(7, 3));
  EXPECT_EQ(ix.size(), 3u);
  EXPECT_EQ(m.find(ix, 7, 3), kNone);
  EXPECT_TRUE(ix.erase(5, 1));
  EXPECT_TRUE(ix.insert(7, 3));
  EXPECT_EQ(m.find(ix, 7, 3), 3u);
  EXPECT_EQ(m.find(ix, 5, 0), 0u);
  EXPECT_EQ(m.find(ix, 6, 2), 2u);

  FlowIndex zero(0, 1);  // holds one, as the flow table with max_flows 0 does
  EXPECT_TRUE(zero.insert(1, 0));
  EXPECT_FALSE(zero.insert(2, 1));
}

// Every (hash, slot) in `present` is found, nothing else is, and a miss
// terminates; with hashes that all land in a tiny table.
void expect_contents(const FlowIndex& ix, const Model& m, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& present,
                     std::uint32_t universe) {
  std::unordered_set<std::uint32_t> slots;
  for (auto [h, s] : present) {
    EXPECT_EQ(m.find(ix, h, m.keys[s]), s) << "hash " << h << " slot " << s;
    slots.insert(s);
  }
  for (std::uint32_t s = 0; s < universe; ++s) {
    if (slots.count(s)) continue;
    for (std::uint32_t h = 0; h < 32; ++h) EXPECT_EQ(m.find(ix, h, m.keys[s]), kNone) << "hash " << h << " slot " << s;
  }
  EXPECT_EQ(ix.size(), present.size());
}

TEST(FlowIndex, BackwardShiftKeepsEveryClusterMemberReachable) {
  // max 8 entries -> 16 buckets. Hashes 14, 15, 0, 1 make a cluster that
  // wraps around the end of the array; several share a home bucket.
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> all = {
      {14, 0}, {14, 1}, {15, 2}, {14, 3}, {0, 4}, {15, 5}, {1, 6}, {0, 7}};
  Model m;
  for (std::uint32_t i = 0; i < 8; ++i) m.keys.push_back(100 + i);
  // Erase each subset of the cluster, in every order of a few permutations.
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    FlowIndex ix(8, 1);
    auto order = all;
    std::shuffle(order.begin(), order.end(), rng);  // insertion order changes the layout
    for (auto [h, s] : order) ASSERT_TRUE(ix.insert(h, s));
    ASSERT_EQ(ix.bucket_count(), 16u);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> present = order;
    std::shuffle(present.begin(), present.end(), rng);
    while (!present.empty()) {
      auto [h, s] = present.back();
      present.pop_back();
      ASSERT_TRUE(ix.erase(h, s));
      expect_contents(ix, m, present, 8);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(FlowIndex, AllKeysOnOneHash) {
  // The worst case: one cluster, every lookup compares keys.
  FlowIndex ix(64, 1);
  Model m;
  for (std::uint32_t i = 0; i < 64; ++i) {
    m.keys.push_back(1000 + i);
    ASSERT_TRUE(ix.insert(42, i));
  }
  for (std::uint32_t i = 0; i < 64; i += 2) ASSERT_TRUE(ix.erase(42, i));
  for (std::uint32_t i = 0; i < 64; ++i) EXPECT_EQ(m.find(ix, 42, 1000 + i), i % 2 ? i : kNone);
}

TEST(FlowIndex, RandomizedAgainstUnorderedMap) {
  // Keys from a small universe (so inserts of present keys, erases of absent
  // ones and reuse all happen); a deliberately weak hash (few distinct values)
  // makes long clusters and shifts across the wrap-around.
  constexpr std::uint32_t kMax = 2000;
  constexpr std::uint64_t kUniverse = 5000;
  FlowIndex ix(kMax, 1);
  std::unordered_map<std::uint64_t, std::uint32_t> ref;  // key -> slot
  std::vector<std::uint64_t> slot_key;                   // slot -> key
  std::vector<std::uint32_t> free_slots;
  auto hash = [](std::uint64_t key) { return static_cast<std::uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 54); };  // 1024 values
  auto find = [&](std::uint64_t key) {
    return ix.find(hash(key), [&](std::uint32_t s) { return slot_key.at(s) == key; });
  };
  std::mt19937_64 rng(12345);
  for (int op = 0; op < 100000; ++op) {
    const std::uint64_t key = rng() % kUniverse;
    const int what = static_cast<int>(rng() % 3);
    auto it = ref.find(key);
    if (what == 0) {  // find
      ASSERT_EQ(find(key), it == ref.end() ? kNone : it->second) << "op " << op;
    } else if (what == 1) {  // insert if absent (as the flow table: find, then insert)
      if (it != ref.end()) {
        ASSERT_EQ(find(key), it->second);
        continue;
      }
      ASSERT_EQ(find(key), kNone);
      std::uint32_t s;
      if (!free_slots.empty()) {
        s = free_slots.back();
        free_slots.pop_back();
      } else {
        s = static_cast<std::uint32_t>(slot_key.size());
        slot_key.push_back(0);
      }
      const bool ok = ix.insert(hash(key), s);
      ASSERT_EQ(ok, ref.size() < kMax) << "op " << op;
      if (ok) {
        slot_key[s] = key;
        ref.emplace(key, s);
      } else {
        free_slots.push_back(s);
      }
    } else {  // erase
      if (it == ref.end()) continue;
      ASSERT_TRUE(ix.erase(hash(key), it->second));
      free_slots.push_back(it->second);
      ref.erase(it);
    }
    ASSERT_EQ(ix.size(), ref.size());
  }
  for (std::uint64_t key = 0; key < kUniverse; ++key) {
    auto it = ref.find(key);
    ASSERT_EQ(find(key), it == ref.end() ? kNone : it->second);
  }
}

TEST(FlowIndex, KeyHashDependsOnEveryFieldAndTheSeed) {
  FlowKey k{};
  k.addr_a[0] = 192;
  k.addr_b[0] = 10;
  k.port_a = 80;
  k.port_b = 40000;
  k.l4_proto = 6;
  k.ip_version = 4;
  const std::uint32_t h = flow_index_hash(k, 1);
  EXPECT_EQ(flow_index_hash(k, 1), h);  // deterministic for a seed
  EXPECT_NE(flow_index_hash(k, 2), h);
  EXPECT_TRUE(flow_keys_equal(k, k));
  auto changed = [&](auto mutate) {
    FlowKey o = k;
    mutate(o);
    EXPECT_FALSE(o == k);
    EXPECT_FALSE(flow_keys_equal(o, k));  // agrees with operator==
    return flow_index_hash(o, 1) != h;
  };
  EXPECT_TRUE(changed([](FlowKey& o) { o.addr_a[15] = 1; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.addr_b[7] = 1; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.port_a = 81; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.port_b = 40001; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.vlan_id = 1; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.l4_proto = 17; }));
  EXPECT_TRUE(changed([](FlowKey& o) { o.ip_version = 6; }));
}

TEST(FlowIndex, KeyHashSpreadsSequentialPortsOverTheLowBits) {
  // Keys that differ only in a port (a scan): the masked home buckets must
  // spread, or clusters grow with the table.
  constexpr std::size_t kBuckets = 1 << 16;
  std::vector<std::uint32_t> load(kBuckets, 0);
  FlowKey k{};
  k.addr_a[0] = 10;
  k.addr_b[0] = 192;
  k.l4_proto = 6;
  k.ip_version = 4;
  for (std::uint32_t i = 0; i < kBuckets / 2; ++i) {
    k.port_a = static_cast<std::uint16_t>(i);
    k.addr_b[3] = static_cast<std::uint8_t>(i >> 16);
    ++load[flow_index_hash(k, 3) & (kBuckets - 1)];
  }
  std::uint32_t worst = 0;
  for (auto n : load) worst = std::max(worst, n);
  EXPECT_LE(worst, 12u);  // a uniform hash gives ~7 at this size
}

}  // namespace
}  // namespace sniffer
