// The userspace half of kernel flow aggregation (flows.aggregation
// "kernel"): turns the flow records the programs send into FlowStates for
// the flow output, and sweeps the "flows" map for the flows the kernel
// cannot end by itself because no packet comes: idle ones, and closed TCP
// flows past their grace. It also evicts the least recently seen flows when
// the map runs nearly full, so that new flows keep finding room.
//
// Live the sweep runs every second. Offline the programs' clock is the
// capture's, and a sweep per second of it would walk the whole map thousands
// of times over a long sparse capture; yet a due flow left in the map ends
// later with the same record (due_reason_is_settled), on the
// next packet of its 5-tuple or at a later sweep. So offline the sweep runs
// when the map could be running out of room, told by the flows started since
// the last one: the map stays as free of ended flows as it must, no more.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "sniffer/flow_map.hpp"
#include "sniffer/flow_table.hpp"

namespace sniffer {

// Whether a due flow's end reason depends on its state only, not on when it
// ends (sniffer_flow_due_reason): when the close grace is no longer than the
// idle timeout. A close begins at or before the flow's last packet
// (closing_since <= last_ts), so a closing flow is due by its close before
// it is idle, and an open one stays idle. Then a due flow left in the map
// ends later with the very record it would have had on time.
inline bool due_reason_is_settled(const sniffer_flow_params& params) {
  return params.tcp_close_grace_ns <= params.idle_timeout_ns;
}

struct KernelFlowCounters {
  std::uint64_t records = 0;   // flow records from the ring
  std::uint64_t ended = 0;     // final records, kernel's and sweep's
  std::uint64_t updates = 0;   // active-timeout updates
  std::uint64_t swept = 0;     // ended by the sweep (idle, closed, shutdown)
  std::uint64_t evicted = 0;   // ended early by the sweep: the map was above 90 % full
  std::uint64_t table_full = 0;       // one-packet records: the kernel found no room
  std::uint64_t sweep_failures = 0;   // a map read or delete that failed (the flow stays)
  std::uint64_t by_reason[v1::FlowEndReason_ARRAYSIZE] = {};
  std::uint64_t entries = 0;   // map entries: at the last sweep (live); counted as flows start (offline)
  std::uint64_t sweeps = 0;
  std::uint64_t kernel_drops = 0;          // drop records counted on their flow
  std::uint64_t kernel_drops_no_flow = 0;  // drop records of no flow in the map (or past the bound below)
};

class KernelFlows {
 public:
  // The programs' count of flows started so far (their last flow id).
  using FlowsStarted = std::function<std::uint64_t()>;

  // map: the "flows" map of `capacity` entries (the kernel's, or the user
  // engine's; it outlives this). Times are the programs'
  // clock (CLOCK_MONOTONIC live; the capture's offline). flows_started:
  // offline only (live, the programs start flows while the sweep walks).
  KernelFlows(FlowMap& map, std::uint32_t capacity, const FlowTableConfig& config, FlowTable::Sink sink,
              FlowsStarted flows_started = {});

  // A flow record from the ring.
  void on_record(const sniffer_flow_record& record);
  // A packet of `key` the kernel dropped (a drop record; a_to_b: its way).
  // A tracing program cannot use a map whose values hold a spin lock, so
  // the count is kept here, by flow id, and put on the flow's records.
  void on_drop(const sniffer_flow_key& key, bool a_to_b);
  // Sweeps the map when due (now on the programs' clock), or always with
  // force. Live: a second after the last sweep. Offline: when the flows in
  // the map (due ones included) reach 95 % of it; and a second after the
  // last sweep as well when a due flow's end reason depends on when it ends
  // (a close grace longer than the idle timeout).
  void expire(std::uint64_t now_ns, bool force = false);
  // Sweeps at the last time seen, then ends every flow left in the map.
  void flush(v1::FlowEndReason reason);

  const KernelFlowCounters& counters() const { return counters_; }
  std::uint32_t capacity() const { return capacity_; }

 private:
  static constexpr std::uint64_t kSweepIntervalNs = 1'000'000'000;
  bool sweep_due(std::uint64_t now_ns);
  void sweep(std::uint64_t now_ns);
  void end(const sniffer_flow_state& state, v1::FlowEndReason reason);
  // The flow with its drops (taken off drops_ when `ended`).
  FlowState with_drops(const sniffer_flow_state& state, bool ended);
  // Removes `key` and sends its last state; `reason` 0: the one its state
  // calls for at now (nothing if it calls for none: a packet revived it).
  void take(const sniffer_flow_key& key, int reason, std::uint64_t now_ns);

  FlowMap& map_;
  std::uint32_t capacity_;
  sniffer_flow_params params_;
  FlowTable::Sink sink_;
  std::uint64_t last_now_ = 0, next_sweep_ = 0;
  FlowsStarted flows_started_;
  bool timed_sweeps_;  // a sweep every second of the programs' clock
  // Offline: the flows started by the last sweep, and the records since
  // then of flows that took no new entry (ended on a packet's arrival, whose
  // new flow took its entry, or one-packet flows that found no room).
  std::uint64_t started_at_sweep_ = 0, started_in_no_new_entry_ = 0;
  KernelFlowCounters counters_;
  // Drops by flow id (fwd, bwd), while the flow is in the map; at most
  // `capacity_` flows (a flow's end record lost to a full ring leaves its
  // entry: a bound, not a leak).
  std::unordered_map<std::uint64_t, std::array<std::uint64_t, 2>> drops_;
};

}  // namespace sniffer
