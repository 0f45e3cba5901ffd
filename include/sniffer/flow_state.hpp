// One bidirectional flow: its canonical key and its fixed-size feature state
// (running sums only, never per-packet vectors). The state is the ABI's
// sniffer_flow_state, updated by sniffer/flow_update.h: the same code the BPF
// programs run in kernel flow aggregation, so both modes agree bit for bit.
// Definitions of every feature: docs/flow-features.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sniffer.pb.h"
#include "sniffer/community_id.hpp"
#include "sniffer/config.hpp"
#include "sniffer/flow_packet.hpp"
#include "sniffer/flow_row.hpp"
#include "sniffer/flow_update.h"

namespace sniffer {

// Tunables of the feature definitions (CICFlowMeter's values by default;
// activity_timeout_ns: flows.activity_timeout_ms's, config.hpp).
struct FlowFeatureParams {
  std::uint64_t activity_timeout_ns = ms_to_ns(FlowConfig{}.activity_timeout_ms);  // active/idle split
  std::uint64_t subflow_gap_ns = 1'000'000'000;
  std::uint64_t bulk_gap_ns = 1'000'000'000;
};

class FlowState {
 public:
  // Starts a flow with its first packet (which defines "forward").
  FlowState(const FlowPacket& first, std::uint64_t id, const sniffer_flow_params& params);
  // A flow the kernel aggregated.
  explicit FlowState(const sniffer_flow_state& state) : s_(state) {}

  // Adds a packet (the first one included: the constructor calls it).
  void add(const sniffer_flow_packet& p, bool a_to_b, const sniffer_flow_params& params) {
    sniffer_flow_add(&s_, &p, a_to_b, &params);
  }

  // Writes the record. The interface name and the direction are the
  // caller's to set: they depend on the host, not on the flow's packets.
  // clock_offset_ns turns the state's times into wall-clock time.
  void to_proto(v1::FlowRecord& out, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns = 0) const;
  // The same values as plain ones (a CSV row without a FlowRecord).
  void to_row(FlowRow& out, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns = 0) const;

  const sniffer_flow_state& state() const { return s_; }
  sniffer_flow_state& state() { return s_; }
  const FlowKey& key() const { return s_.key; }
  std::uint64_t id() const { return s_.flow_id; }
  std::uint64_t first_ts() const { return s_.first_ts; }
  std::uint64_t last_ts() const { return s_.last_ts; }
  std::uint32_t ifindex() const { return s_.ifindex; }
  bool closed() const { return sniffer_flow_closed(&s_); }
  bool rst_seen() const { return sniffer_flow_rst_seen(&s_); }
  std::uint32_t update_count() const { return s_.update_count; }
  // A packet of this flow the kernel dropped (after the programs saw it).
  void count_kernel_drop(bool a_to_b) { ++kernel_dropped_[a_to_b == (s_.fwd_is_a_to_b != 0) ? 0 : 1]; }
  // The drops counted beside the kernel's flow entry (kernel flow aggregation).
  void set_kernel_drops(std::uint64_t fwd, std::uint64_t bwd) { kernel_dropped_[0] = fwd, kernel_dropped_[1] = bwd; }
  void count_update() { ++s_.update_count; }

  std::string_view conn_state() const;  // Zeek's, "" when not TCP or UDP

  // The flow's Community ID input (from its first packet), and its ID,
  // computed on first use and kept: one SHA-1 per flow, whatever its packets
  // and records. seed: the same each call.
  CommunityIdTuple community_id_tuple() const { return sniffer::community_id_tuple(s_); }
  const std::string& community_id(std::uint16_t seed) const {
    if (community_id_.empty()) [[unlikely]] hash_community_id(seed);
    return community_id_;
  }
  // The same ID, the kept one or else written into buf and not kept (no
  // allocation: a flow's last record, the CSV's).
  std::string_view community_id(std::uint16_t seed, char (&buf)[kCommunityIdLength]) const;
  // True once the ID is kept (computed by community_id(seed)).
  bool community_id_kept() const { return !community_id_.empty(); }

 private:
  void hash_community_id(std::uint16_t seed) const;
  template <typename Record>
  void fill(Record& r, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns) const;

  sniffer_flow_state s_;
  std::uint64_t kernel_dropped_[2] = {};  // fwd, bwd: the kernel's drops (drop records)
  mutable std::string community_id_;  // empty until hashed
};

}  // namespace sniffer
