// The kernel's counters and the ring reader's, as the report's typed counters.
#pragma once

#include <array>
#include <cstdint>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/record.hpp"

namespace sniffer {

// What the drain loop counted.
struct DrainCounters {
  std::uint64_t records_received = 0;       // packet records
  std::uint64_t flow_records_received = 0;  // flow records (kernel flow aggregation)
  std::uint64_t drop_records_received = 0;  // drop records (kernel drop reasons)
  std::array<std::uint64_t, kNumDecodeStatus> decode_errors{};  // indexed by DecodeStatus

  DrainCounters& operator+=(const DrainCounters& other) {  // over workers
    records_received += other.records_received;
    flow_records_received += other.flow_records_received;
    drop_records_received += other.drop_records_received;
    for (int i = 0; i < kNumDecodeStatus; ++i) decode_errors[i] += other.decode_errors[i];
    return *this;
  }
};

// The totals, and each interface's block (by name) less its baseline.
KernelReport kernel_report(const KernelCounters& counters, const InterfaceTable& interfaces);
RingCounters ring_counters(const DrainCounters& drain);

}  // namespace sniffer
