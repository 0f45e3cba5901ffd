// The userspace half of kernel flow aggregation (flows.aggregation
// "kernel"): turns the flow records the programs send into FlowStates for
// the flow output, and sweeps the "flows" map for the flows the kernel
// cannot end by itself because no packet comes: idle ones, and closed TCP
// flows past their grace. It also evicts the least recently seen flows when
// the map runs nearly full, so that new flows keep finding room.
#pragma once

#include <cstdint>
#include <vector>

#include "sniffer/flow_table.hpp"

namespace sniffer {

struct KernelFlowCounters {
  std::uint64_t records = 0;   // flow records from the ring
  std::uint64_t ended = 0;     // final records, kernel's and sweep's
  std::uint64_t updates = 0;   // active-timeout updates
  std::uint64_t swept = 0;     // ended by the sweep (idle, closed, shutdown)
  std::uint64_t evicted = 0;   // ended early by the sweep: the map was above 90 % full
  std::uint64_t table_full = 0;       // one-packet records: the kernel found no room
  std::uint64_t sweep_failures = 0;   // a map read or delete that failed (the flow stays)
  std::uint64_t by_reason[v1::FlowEndReason_ARRAYSIZE] = {};
  std::uint64_t entries = 0;   // map entries at the last sweep
  std::uint64_t sweeps = 0;
};

class KernelFlows {
 public:
  // map_fd: the "flows" map of `capacity` entries. Times are the programs'
  // clock (CLOCK_MONOTONIC live; the capture's offline).
  KernelFlows(int map_fd, std::uint32_t capacity, const FlowTableConfig& config, FlowTable::Sink sink);

  // A flow record from the ring.
  void on_record(const sniffer_flow_record& record);
  // Sweeps the map when a second has passed since the last sweep (now on
  // the programs' clock), or always with force.
  void expire(std::uint64_t now_ns, bool force = false);
  // Sweeps at the last time seen, then ends every flow left in the map.
  void flush(v1::FlowEndReason reason);

  const KernelFlowCounters& counters() const { return counters_; }
  std::uint32_t capacity() const { return capacity_; }

 private:
  static constexpr std::uint64_t kSweepIntervalNs = 1'000'000'000;
  static constexpr std::uint32_t kBatch = 1024;  // map entries read per syscall
  void end(const sniffer_flow_state& state, v1::FlowEndReason reason);
  // Removes `key` and sends its last state; `reason` 0: the one its state
  // calls for at now (nothing if it calls for none: a packet revived it).
  void take(const sniffer_flow_key& key, int reason, std::uint64_t now_ns);

  int map_fd_;
  std::uint32_t capacity_;
  sniffer_flow_params params_;
  FlowTable::Sink sink_;
  std::uint64_t last_now_ = 0, next_sweep_ = 0;
  KernelFlowCounters counters_;
  std::vector<sniffer_flow_key> keys_;  // the sweep's batch buffers, kept between sweeps
  std::vector<sniffer_flow_value> values_;
};

}  // namespace sniffer
