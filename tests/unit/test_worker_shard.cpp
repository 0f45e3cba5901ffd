// capture.workers: the flow -> worker hash (sniffer/worker_shard.h, the one
// the programs use) and the sweep's shard of the flow map.
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

TEST(WorkerShard, BothDirectionsOfAFlowGoToOneWorkerInRange) {
  std::mt19937 rng(7);
  for (std::uint32_t workers : {1u, 2u, 3u, 16u}) {
    for (int i = 0; i < 10000; ++i) {
      const Endpoints e = random_flow(rng, i % 2);
      const std::uint32_t there = sniffer_worker_of(e.a.data(), e.port_a, e.b.data(), e.port_b, e.proto, workers);
      const std::uint32_t back = sniffer_worker_of(e.b.data(), e.port_b, e.a.data(), e.port_a, e.proto, workers);
      ASSERT_EQ(there, back);
      ASSERT_LT(there, workers);
    }
  }
}

// Flows that differ in one port only (a scan, many clients of one server)
// still spread evenly: within 5 % of an even share.
TEST(WorkerShard, FlowsSpreadEvenly) {
  for (std::uint32_t workers : {2u, 4u, 8u}) {
    std::map<std::uint32_t, int> per_worker;
    Endpoints e;
    e.a = {10, 0, 0, 1};
    e.b = {192, 168, 1, 1};
    e.port_b = 443;
    constexpr int kFlows = 60000;
    for (int i = 0; i < kFlows; ++i) {
      e.port_a = static_cast<std::uint16_t>(1024 + i);
      ++per_worker[sniffer_worker_of(e.a.data(), e.port_a, e.b.data(), e.port_b, 6, workers)];
    }
    ASSERT_EQ(per_worker.size(), workers);
    for (const auto& [w, n] : per_worker) EXPECT_NEAR(n, kFlows / workers, 0.05 * kFlows / workers) << workers;
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
  std::set<std::vector<std::uint8_t>> walked, listed;
  std::size_t walks = 0, lists = 0;
  for (std::uint32_t w = 0; w < kWorkers; ++w) {
    ShardFlowMap shard(std::make_unique<KeysMap>(keys), w, kWorkers);
    shard.for_each([&](const sniffer_flow_key& k, const sniffer_flow_value&) {
      EXPECT_EQ(sniffer_worker_of(k.addr_a, k.port_a, k.addr_b, k.port_b, k.l4_proto, kWorkers), w);
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
