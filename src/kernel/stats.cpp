#include "sniffer/stats.hpp"

#include <algorithm>

namespace sniffer {

KernelStats KernelCounters::total() const {
  KernelStats t{};
  for (const auto& slot : slots) {
    for (int c = 0; c < SNIFFER_NUM_STATS; ++c) {
      if (is_kernel_gauge(c)) t[c] = std::max(t[c], slot[c]);
      else t[c] += slot[c];
    }
  }
  return t;
}

KernelReport kernel_report(const KernelCounters& counters, const InterfaceTable& interfaces) {
  KernelReport report;
  report.total = counters.total();
  for (const auto& [ifindex, info] : interfaces) {
    KernelStats mine = counters.slots[info.stats_slot];
    for (int c = 0; c < SNIFFER_NUM_STATS; ++c) mine[c] -= std::min(mine[c], info.stats_baseline[c]);
    report.interfaces[info.name] = mine;
  }
  return report;
}

RingCounters ring_counters(const DrainCounters& drain) {
  RingCounters ring{.records_received = drain.records_received,
                    .flow_records_received = drain.flow_records_received,
                    .drop_records_received = drain.drop_records_received};
  for (int i = 1; i < kNumDecodeStatus; ++i) {
    ring.decode_errors[to_string(static_cast<DecodeStatus>(i))] = drain.decode_errors[i];
  }
  return ring;
}

}  // namespace sniffer
