// A flow's record as plain values, for a CSV row written without a
// FlowRecord (FlowOutput, a flow going to the CSV only): the same fields, the
// same types, the same accessor and setter names as v1::FlowRecord's, so that
// FlowState fills either with one function and the CSV's columns read either
// with one table (flow_csv.hpp). Text fields are views: of the flow's state,
// of string literals, of the interface table; valid while the flow is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sniffer.pb.h"

namespace sniffer {

// A field: its value, its getter and its setter, named as protobuf names them.
#define SNIFFER_ROW_FIELD(type, name) \
  type name##_{};                     \
  type name() const { return name##_; } \
  void set_##name(type v) { name##_ = v; }
// A text field: set from a view or a pointer and a length (protobuf's two forms used).
#define SNIFFER_ROW_TEXT(name)                                                    \
  std::string_view name##_;                                                       \
  std::string_view name() const { return name##_; }                               \
  void set_##name(std::string_view v) { name##_ = v; }                            \
  void set_##name(const char* p, std::size_t n) { name##_ = std::string_view(p, n); }
// A sub-message: read by reference, written through a pointer.
#define SNIFFER_ROW_MESSAGE(type, name) \
  type name##_;                          \
  const type& name() const { return name##_; } \
  type* mutable_##name() { return &name##_; }

struct FlowRowStats {
  SNIFFER_ROW_FIELD(std::uint64_t, count)
  SNIFFER_ROW_FIELD(double, min)
  SNIFFER_ROW_FIELD(double, max)
  SNIFFER_ROW_FIELD(double, mean)
  SNIFFER_ROW_FIELD(double, std)
  SNIFFER_ROW_FIELD(double, total)
};

struct FlowRowDirection {
  SNIFFER_ROW_FIELD(std::uint64_t, packets)
  SNIFFER_ROW_FIELD(std::uint64_t, bytes)
  SNIFFER_ROW_FIELD(std::uint64_t, payload_bytes)
  SNIFFER_ROW_FIELD(std::uint64_t, header_bytes)
  SNIFFER_ROW_MESSAGE(FlowRowStats, payload_length)
  SNIFFER_ROW_MESSAGE(FlowRowStats, iat_us)
  SNIFFER_ROW_FIELD(std::uint32_t, psh_count)
  SNIFFER_ROW_FIELD(std::uint32_t, urg_count)
  SNIFFER_ROW_FIELD(std::int32_t, init_window)
  SNIFFER_ROW_FIELD(std::uint64_t, data_packets)
  SNIFFER_ROW_FIELD(std::uint32_t, min_header_bytes)
  SNIFFER_ROW_FIELD(std::uint64_t, bulk_count)
  SNIFFER_ROW_FIELD(std::uint64_t, bulk_packets)
  SNIFFER_ROW_FIELD(std::uint64_t, bulk_bytes)
  SNIFFER_ROW_FIELD(double, bulk_duration_us)
  SNIFFER_ROW_FIELD(double, packets_per_second)
  SNIFFER_ROW_FIELD(std::uint64_t, kernel_dropped)
};

struct FlowRow {
  SNIFFER_ROW_FIELD(std::uint64_t, flow_id)
  SNIFFER_ROW_FIELD(std::uint64_t, start_ns)
  SNIFFER_ROW_FIELD(std::uint64_t, end_ns)
  SNIFFER_ROW_FIELD(double, duration_us)
  SNIFFER_ROW_FIELD(std::uint32_t, ip_version)
  SNIFFER_ROW_TEXT(src_addr)
  SNIFFER_ROW_TEXT(dst_addr)
  SNIFFER_ROW_FIELD(std::uint32_t, src_port)
  SNIFFER_ROW_FIELD(std::uint32_t, dst_port)
  SNIFFER_ROW_FIELD(std::uint32_t, l4_protocol)
  SNIFFER_ROW_FIELD(std::uint32_t, vlan_id)
  SNIFFER_ROW_TEXT(interface)
  SNIFFER_ROW_FIELD(std::uint32_t, ifindex)
  SNIFFER_ROW_FIELD(v1::Role, role)
  SNIFFER_ROW_FIELD(v1::Mode, mode)
  SNIFFER_ROW_FIELD(bool, is_wan_facing)
  SNIFFER_ROW_FIELD(v1::FlowDirection, direction)
  SNIFFER_ROW_MESSAGE(FlowRowDirection, fwd)
  SNIFFER_ROW_MESSAGE(FlowRowDirection, bwd)
  SNIFFER_ROW_MESSAGE(FlowRowStats, payload_length)
  SNIFFER_ROW_MESSAGE(FlowRowStats, iat_us)
  SNIFFER_ROW_FIELD(std::uint32_t, fin_count)
  SNIFFER_ROW_FIELD(std::uint32_t, syn_count)
  SNIFFER_ROW_FIELD(std::uint32_t, rst_count)
  SNIFFER_ROW_FIELD(std::uint32_t, psh_count)
  SNIFFER_ROW_FIELD(std::uint32_t, ack_count)
  SNIFFER_ROW_FIELD(std::uint32_t, urg_count)
  SNIFFER_ROW_FIELD(std::uint32_t, cwr_count)
  SNIFFER_ROW_FIELD(std::uint32_t, ece_count)
  SNIFFER_ROW_MESSAGE(FlowRowStats, active_us)
  SNIFFER_ROW_MESSAGE(FlowRowStats, idle_us)
  SNIFFER_ROW_FIELD(std::uint64_t, subflow_count)
  SNIFFER_ROW_FIELD(double, bytes_per_second)
  SNIFFER_ROW_FIELD(double, packets_per_second)
  SNIFFER_ROW_FIELD(double, down_up_ratio)
  SNIFFER_ROW_TEXT(conn_state)
  SNIFFER_ROW_TEXT(history)
  SNIFFER_ROW_FIELD(v1::FlowEndReason, end_reason)
  SNIFFER_ROW_FIELD(bool, is_update)
  SNIFFER_ROW_FIELD(std::uint32_t, update_count)
  SNIFFER_ROW_TEXT(community_id)
  SNIFFER_ROW_TEXT(label)
};

#undef SNIFFER_ROW_FIELD
#undef SNIFFER_ROW_TEXT
#undef SNIFFER_ROW_MESSAGE

}  // namespace sniffer
