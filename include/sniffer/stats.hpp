// Named views of the counters, kernel and userspace, for logs and reports.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/record.hpp"

namespace sniffer {

// What the drain loop counted.
struct DrainCounters {
  std::uint64_t records_received = 0;       // packet records
  std::uint64_t flow_records_received = 0;  // flow records (kernel flow aggregation)
  std::array<std::uint64_t, kNumDecodeStatus> decode_errors{};  // indexed by DecodeStatus
};

const char* hook_name(int abi_hook);
const char* class_name(int abi_class);

// {"packets": {"xdp_ingress": {"tcp": n, ...}, ...}, "bytes": {...}, "records": n, ...}
nlohmann::json kernel_stats_json(const KernelStats& stats);
// The totals as above, plus "interfaces": {name: the same per interface}.
nlohmann::json kernel_stats_json(const KernelCounters& counters, const InterfaceTable& interfaces);
// {"records_received": n, "decode_errors": {"bad_magic": n, ...}}
nlohmann::json drain_stats_json(const DrainCounters& drain);

}  // namespace sniffer
