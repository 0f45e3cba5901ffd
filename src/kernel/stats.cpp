#include "sniffer/stats.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace sniffer {

const char* hook_name(int abi_hook) {
  switch (abi_hook) {
    case SNIFFER_HOOK_XDP_INGRESS: return "xdp_ingress";
    case SNIFFER_HOOK_TC_INGRESS: return "tc_ingress";
    case SNIFFER_HOOK_TC_EGRESS: return "tc_egress";
  }
  return "unknown";
}

const char* class_name(int abi_class) {
  switch (abi_class) {
    case SNIFFER_CLASS_TCP: return "tcp";
    case SNIFFER_CLASS_UDP: return "udp";
    case SNIFFER_CLASS_ICMP: return "icmp";
    case SNIFFER_CLASS_OTHER: return "other";
  }
  return "unknown";
}

nlohmann::json kernel_stats_json(const KernelStats& s) {
  nlohmann::json packets, bytes;
  for (int h = 0; h < SNIFFER_NUM_HOOKS; ++h) {
    for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
      packets[hook_name(h)][class_name(c)] = s[SNIFFER_STAT_PACKETS(h, c)];
      bytes[hook_name(h)][class_name(c)] = s[SNIFFER_STAT_BYTES(h, c)];
    }
  }
  return {{"packets", packets},
          {"bytes", bytes},
          {"records", s[SNIFFER_STAT_RECORDS]},
          {"ringbuf_full", s[SNIFFER_STAT_RINGBUF_FULL]},
          {"parse_errors", s[SNIFFER_STAT_PARSE_ERROR]},
          {"filtered", s[SNIFFER_STAT_FILTERED]},
          {"blocked", s[SNIFFER_STAT_BLOCKED]},
          {"blocked_unrecorded", s[SNIFFER_STAT_BLOCKED_UNRECORDED]},
          {"block_monitored", s[SNIFFER_STAT_BLOCK_MONITORED]},
          {"allowed", s[SNIFFER_STAT_ALLOWED]},
          {"sampled_out", s[SNIFFER_STAT_SAMPLED_OUT]},
          {"flow_packets", s[SNIFFER_STAT_FLOW_PACKETS]},
          {"flow_skipped", s[SNIFFER_STAT_FLOW_SKIPPED]},
          {"flow_records", s[SNIFFER_STAT_FLOW_RECORDS]},
          {"flow_ringbuf_full", s[SNIFFER_STAT_FLOW_RING_FULL]},
          {"flow_map_full", s[SNIFFER_STAT_FLOW_MAP_FULL]},
          {"unconfigured", s[SNIFFER_STAT_UNCONFIGURED]},
          {"ring_fill_bytes", s[SNIFFER_STAT_RING_FILL]}};
}

nlohmann::json kernel_stats_json(const KernelCounters& counters, const InterfaceTable& interfaces) {
  nlohmann::json j = kernel_stats_json(counters.total());
  nlohmann::json per = nlohmann::json::object();
  for (const auto& [ifindex, info] : interfaces) {
    KernelStats mine = counters.slots[info.stats_slot];
    for (int c = 0; c < SNIFFER_NUM_STATS; ++c) mine[c] -= std::min(mine[c], info.stats_baseline[c]);
    nlohmann::json s = kernel_stats_json(mine);
    s.erase("unconfigured");
    s.erase("ring_fill_bytes");
    per[info.name] = s;
  }
  j["interfaces"] = per;
  return j;
}

nlohmann::json drain_stats_json(const DrainCounters& drain) {
  nlohmann::json decode;
  for (int i = 1; i < kNumDecodeStatus; ++i) decode[to_string(static_cast<DecodeStatus>(i))] = drain.decode_errors[i];
  return {{"records_received", drain.records_received},
          {"flow_records_received", drain.flow_records_received},
          {"decode_errors", decode}};
}

}  // namespace sniffer
