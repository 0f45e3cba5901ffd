// capture.workers: the flow -> worker hash (sniffer/worker_shard.h, the one
// the programs use) and the sweep's shard of the flow map.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "sniffer/flow_map.hpp"
#include "sniffer/worker_shard.h"

namespace sniffer {
namespace {

struct Endpoints {
  std::array<std::uint8_t, 16> a{}, b{};
  std::uint16_t port_a = 0, port_b = 0;
  std::uint8_t proto = 17;
};

Endpoints random_flow(std::mt19937& rng, bool v6) {
  Endpoints e;
  for (std::size_t i = 0; i < (v6 ? 16u : 4u); ++i) {
    e.a[i] = static_cast<std::uint8_t>(rng());
    e.b[i] = static_cast<std::uint8_t>(rng());
  }
  e.port_a = static_cast<std::uint16_t>(rng());
  e.port_b = static_cast<std::uint16_t>(rng());
  e.proto = rng() % 2 ? 6 : 17;
  return e;
}

WorkerKey random_key(std::mt19937& rng) {
  WorkerKey key;
  for (auto& w : key) w = static_cast<std::uint32_t>(rng());
  return key;
}

std::uint32_t worker_of(const Endpoints& e, std::uint32_t workers, const WorkerKey& key) {
  return sniffer_worker_of(e.a.data(), e.port_a, e.b.data(), e.port_b, e.proto, workers, key.data());
}

TEST(WorkerShard, BothDirectionsOfAFlowGoToOneWorkerInRangeUnderAnyKey) {
  std::mt19937 rng(7);
  for (std::uint32_t workers : {1u, 2u, 3u, 16u}) {
    for (int i = 0; i < 10000; ++i) {
      const WorkerKey key = i % 4 ? random_key(rng) : WorkerKey{};
      const Endpoints e = random_flow(rng, i % 2);
      const std::uint32_t there = worker_of(e, workers, key);
      const std::uint32_t back = sniffer_worker_of(e.b.data(), e.port_b, e.a.data(), e.port_a, e.proto, workers,
                                                   key.data());
      ASSERT_EQ(there, back);
      ASSERT_LT(there, workers);
    }
  }
}

// Flows that differ in one port only (a scan, many clients of one server)
// still spread evenly, under key 0 and under a random key: within 5 % of an
// even share.
TEST(WorkerShard, FlowsSpreadEvenly) {
  std::mt19937 rng(3);
  for (const WorkerKey& key : {WorkerKey{}, random_key(rng)}) {
    for (std::uint32_t workers : {2u, 4u, 8u}) {
      std::map<std::uint32_t, int> per_worker;
      Endpoints e;
      e.a = {10, 0, 0, 1};
      e.b = {192, 168, 1, 1};
      e.port_b = 443;
      e.proto = 6;
      constexpr int kFlows = 60000;
      for (int i = 0; i < kFlows; ++i) {
        e.port_a = static_cast<std::uint16_t>(1024 + i);
        ++per_worker[worker_of(e, workers, key)];
      }
      ASSERT_EQ(per_worker.size(), workers);
      for (const auto& [w, n] : per_worker) EXPECT_NEAR(n, kFlows / workers, 0.05 * kFlows / workers) << workers;
    }
  }
}

// The largest share any one of `workers` gets of `flows` under `key`.
double largest_share(const std::vector<Endpoints>& flows, std::uint32_t workers, const WorkerKey& key) {
  std::vector<int> per_worker(workers);
  for (const Endpoints& e : flows) ++per_worker[worker_of(e, workers, key)];
  return static_cast<double>(*std::max_element(per_worker.begin(), per_worker.end())) / flows.size();
}

// F13: an attacker who knows the code but not the key picks source ports
// whose flows all land on one worker under the key it guessed; under the
// key the loader drew they spread like any other flows. A key that only
// renumbered the workers (added to the result) would keep them together.
TEST(WorkerShard, FlowsChosenForOneWorkerUnderOneKeySpreadUnderAnother) {
  constexpr std::uint32_t kWorkers = 8;
  std::mt19937 rng(13);
  for (int round = 0; round < 10; ++round) {
    const WorkerKey guessed = round ? random_key(rng) : WorkerKey{};
    std::vector<Endpoints> flood;
    Endpoints e;
    e.a = {198, 51, 100, 7};
    e.b = {192, 0, 2, 80};
    e.port_b = 80;
    e.proto = 6;
    for (std::uint32_t port = 1; port <= 65535; ++port) {
      e.port_a = static_cast<std::uint16_t>(port);
      if (worker_of(e, kWorkers, guessed) == 0) flood.push_back(e);
    }
    ASSERT_GT(flood.size(), 65535u / kWorkers * 9 / 10);
    ASSERT_EQ(largest_share(flood, kWorkers, guessed), 1.0);
    for (int k = 0; k < 5; ++k) {
      EXPECT_LT(largest_share(flood, kWorkers, random_key(rng)), 1.15 / kWorkers) << round << " " << k;
    }
  }
}

// Exact collisions of the unkeyed hash: IPv6 sources in one /64 (address
// words 2 and 3, stored order) and source ports that differ by sums of
// d1, d2, d3, where c2 d2 + c3 d3 + c_port d_port = 0 mod 2^64 for each
// (found by lattice reduction over worker_shard.h's constants): every one
// of them has the same hash under key 0, whatever the destination, so all
// land on one worker. XORing the key into the words before the multiply
// breaks the sums; a key added to the hash after them would not.
std::vector<Endpoints> unkeyed_collisions() {
  constexpr std::array<std::array<std::int64_t, 3>, 3> d = {{{86443524, 5242679, -789},
                                                             {-53799835, 98589704, -337},
                                                             {-28876745, -78207807, -1210}}};
  std::vector<Endpoints> flows;
  for (int n1 = -5; n1 <= 5; ++n1) {
    for (int n2 = -5; n2 <= 5; ++n2) {
      for (int n3 = -5; n3 <= 5; ++n3) {
        std::int64_t w[3] = {std::int64_t{1} << 31, std::int64_t{1} << 31, 20000};  // word 2, word 3, port
        for (int i = 0; i < 3; ++i) w[i] += n1 * d[0][i] + n2 * d[1][i] + n3 * d[2][i];
        Endpoints e;
        e.a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
        e.b = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x80};
        const auto w2 = static_cast<std::uint32_t>(w[0]), w3 = static_cast<std::uint32_t>(w[1]);
        std::memcpy(e.a.data() + 8, &w2, 4);
        std::memcpy(e.a.data() + 12, &w3, 4);
        e.port_a = static_cast<std::uint16_t>(w[2]);
        e.port_b = 443;
        e.proto = 6;
        flows.push_back(e);
      }
    }
  }
  return flows;
}

TEST(WorkerShard, ExactCollisionsOfTheUnkeyedHashSpreadUnderAKey) {
  const std::vector<Endpoints> flood = unkeyed_collisions();
  std::set<std::vector<std::uint8_t>> sources;
  for (const Endpoints& e : flood) {
    std::vector<std::uint8_t> s(e.a.begin(), e.a.end());
    s.push_back(static_cast<std::uint8_t>(e.port_a));
    s.push_back(static_cast<std::uint8_t>(e.port_a >> 8));
    sources.insert(s);
  }
  ASSERT_EQ(sources.size(), flood.size());  // 1331 distinct flows
  for (std::uint32_t workers : {2u, 8u, 16u}) ASSERT_EQ(largest_share(flood, workers, WorkerKey{}), 1.0) << workers;
  std::mt19937 rng(17);
  for (int k = 0; k < 20; ++k) {
    const WorkerKey key = random_key(rng);
    EXPECT_LT(largest_share(flood, 2, key), 0.56) << k;  // even: 0.5, sigma 0.014
    EXPECT_LT(largest_share(flood, 8, key), 0.17) << k;  // even: 0.125, sigma 0.009
  }
}

// The key changes the mapping itself: under two keys, a flow keeps its
// worker only by chance (1 in workers).
TEST(WorkerShard, AnotherKeyMovesMostFlows) {
  constexpr std::uint32_t kWorkers = 8;
  std::mt19937 rng(19);
  const WorkerKey keys[] = {WorkerKey{}, random_key(rng), random_key(rng), WorkerKey{1, 0, 0, 0, 0},
                            WorkerKey{0, 0, 0, 0, 1}};
  std::vector<Endpoints> flows;
  for (int i = 0; i < 20000; ++i) flows.push_back(random_flow(rng, i % 2));
  for (std::size_t x = 0; x < std::size(keys); ++x) {
    for (std::size_t y = x + 1; y < std::size(keys); ++y) {
      int kept = 0;
      for (const Endpoints& e : flows) kept += worker_of(e, kWorkers, keys[x]) == worker_of(e, kWorkers, keys[y]);
      EXPECT_NEAR(kept, flows.size() / kWorkers, 0.02 * flows.size()) << x << " vs " << y;
    }
  }
}

// A map of keys only, for the shards to walk.
class KeysMap : public FlowMap {
 public:
  explicit KeysMap(std::vector<sniffer_flow_key> keys) : keys_(std::move(keys)) {}
  bool for_each(const Visit& visit) override {
    for (const auto& k : keys_) visit(k, sniffer_flow_value{});
    return true;
  }
  int take(const sniffer_flow_key&, sniffer_flow_value&) override { return ENOENT; }
  int lookup(const sniffer_flow_key&, sniffer_flow_value&) override { return ENOENT; }
  int put_back(const sniffer_flow_key&, const sniffer_flow_value&) override { return 0; }
  std::vector<sniffer_flow_key> keys() override { return keys_; }

 private:
  std::vector<sniffer_flow_key> keys_;
};

TEST(WorkerShard, TheSweepsShardsPartitionTheMap) {
  std::mt19937 rng(11);
  std::vector<sniffer_flow_key> keys(3000);
  for (auto& k : keys) {
    const Endpoints e = random_flow(rng, false);
    std::memcpy(k.addr_a, e.a.data(), 16);
    std::memcpy(k.addr_b, e.b.data(), 16);
    k.port_a = e.port_a;
    k.port_b = e.port_b;
    k.l4_proto = e.proto;
    k.ip_version = 4;
  }
  constexpr std::uint32_t kWorkers = 3;
  const WorkerKey key = random_key(rng);  // the programs' key, as BpfPrograms::worker_key gives it
  std::set<std::vector<std::uint8_t>> walked, listed;
  std::size_t walks = 0, lists = 0;
  for (std::uint32_t w = 0; w < kWorkers; ++w) {
    ShardFlowMap shard(std::make_unique<KeysMap>(keys), w, kWorkers, key);
    shard.for_each([&](const sniffer_flow_key& k, const sniffer_flow_value&) {
      EXPECT_EQ(sniffer_worker_of(k.addr_a, k.port_a, k.addr_b, k.port_b, k.l4_proto, kWorkers, key.data()), w);
      walked.insert(std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&k),
                                              reinterpret_cast<const std::uint8_t*>(&k + 1)));
      ++walks;
    });
    for (const auto& k : shard.keys()) {
      listed.insert(std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&k),
                                              reinterpret_cast<const std::uint8_t*>(&k + 1)));
      ++lists;
    }
  }
  EXPECT_EQ(walks, keys.size());  // each key in exactly one shard
  EXPECT_EQ(walked.size(), keys.size());
  EXPECT_EQ(lists, keys.size());
  EXPECT_EQ(listed, walked);
}

}  // namespace
}  // namespace sniffer
