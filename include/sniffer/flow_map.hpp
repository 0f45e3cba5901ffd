// Where kernel flow aggregation's flows live, as the sweep (kernel_flows.hpp)
// sees them: the kernel's "flows" map (KernelFlowMap, through its fd), or the
// user engine's store of the same map when the programs run in-process
// (user_flow_map.hpp). One interface, so that one sweep serves both engines.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sniffer/abi.h"
#include "sniffer/worker_shard.h"  // WorkerKey

namespace sniffer {

class FlowMap {
 public:
  using Visit = std::function<void(const sniffer_flow_key&, const sniffer_flow_value&)>;
  virtual ~FlowMap() = default;

  // Visits every entry, each copied under its lock. false: the walk failed
  // part way (the entries not visited stay for the next walk).
  virtual bool for_each(const Visit& visit) = 0;
  // Removes `key` and copies out its value, in one step: 0, ENOENT (no such
  // entry), or another errno.
  virtual int take(const sniffer_flow_key& key, sniffer_flow_value& value) = 0;
  // Copies out `key`'s value, under its lock: 0, ENOENT or another errno.
  virtual int lookup(const sniffer_flow_key& key, sniffer_flow_value& value) = 0;
  // Puts an entry back unless the key has one again: 0 or an errno (EEXIST).
  virtual int put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) = 0;
  // Every key now.
  virtual std::vector<sniffer_flow_key> keys() = 0;
};

// The kernel's "flows" map.
class KernelFlowMap : public FlowMap {
 public:
  explicit KernelFlowMap(int map_fd) : map_fd_(map_fd) {}
  bool for_each(const Visit& visit) override;
  int take(const sniffer_flow_key& key, sniffer_flow_value& value) override;
  int lookup(const sniffer_flow_key& key, sniffer_flow_value& value) override;
  int put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) override;
  std::vector<sniffer_flow_key> keys() override;

 private:
  static constexpr std::uint32_t kBatch = 1024;  // entries read per syscall
  int map_fd_;
  std::vector<sniffer_flow_key> keys_;  // batch buffers, kept between walks
  std::vector<sniffer_flow_value> values_;
};

// One worker's shard of a map (capture.workers): its walks (for_each, keys)
// see only the keys whose flows sniffer_worker_of gives this worker under
// `key` (the loaded programs' key, BpfPrograms::worker_key), so each worker
// sweeps its own flows; lookups and removals pass through.
class ShardFlowMap : public FlowMap {
 public:
  ShardFlowMap(std::unique_ptr<FlowMap> map, std::uint32_t worker, std::uint32_t workers, const WorkerKey& key)
      : map_(std::move(map)), worker_(worker), workers_(workers), key_(key) {}
  bool for_each(const Visit& visit) override;
  int take(const sniffer_flow_key& key, sniffer_flow_value& value) override { return map_->take(key, value); }
  int lookup(const sniffer_flow_key& key, sniffer_flow_value& value) override { return map_->lookup(key, value); }
  int put_back(const sniffer_flow_key& key, const sniffer_flow_value& value) override {
    return map_->put_back(key, value);
  }
  std::vector<sniffer_flow_key> keys() override;

 private:
  bool owns(const sniffer_flow_key& key) const;
  std::unique_ptr<FlowMap> map_;
  std::uint32_t worker_, workers_;
  WorkerKey key_;
};

}  // namespace sniffer
