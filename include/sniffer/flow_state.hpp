// One bidirectional flow: its canonical key and its fixed-size feature state
// (running sums only, never per-packet vectors). The state is the ABI's
// sniffer_flow_state, updated by sniffer/flow_update.h: the same code the BPF
// programs run in kernel flow aggregation, so both modes agree bit for bit.
// Definitions of every feature: docs/flow-features.md.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "sniffer.pb.h"
#include "sniffer/config.hpp"
#include "sniffer/flow_update.h"
#include "sniffer/packet_info.hpp"

inline bool operator==(const sniffer_flow_key& x, const sniffer_flow_key& y) {
  return std::memcmp(&x, &y, sizeof x) == 0;  // no padding: asserted in abi.h
}

namespace sniffer {

// Canonical bidirectional key: the (address, port) pair that sorts first is
// side A, so both directions of a conversation map to the same key.
using FlowKey = sniffer_flow_key;

// The key of p, and whether p travels from side A to side B.
FlowKey flow_key_of(const PacketInfo& p, bool& a_to_b);

// What the flow logic reads of a packet.
sniffer_flow_packet flow_packet_of(const PacketInfo& p);

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
  FlowState(const FlowKey& key, const PacketInfo& first, bool first_a_to_b, std::uint64_t id,
            std::uint8_t direction, const sniffer_flow_params& params);
  // A flow the kernel aggregated (direction: v1::FlowDirection).
  FlowState(const sniffer_flow_state& state, std::uint8_t direction) : s_(state), direction_(direction) {}

  // Adds a packet (the first one included: the constructor calls it).
  void add(const sniffer_flow_packet& p, bool a_to_b, const sniffer_flow_params& params) {
    sniffer_flow_add(&s_, &p, a_to_b, &params);
  }

  // Writes the record (the interface name is the caller's to set).
  // clock_offset_ns turns the state's times into wall-clock time.
  void to_proto(v1::FlowRecord& out, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns = 0) const;

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
  void count_update() { ++s_.update_count; }

  std::string conn_state() const;

 private:
  sniffer_flow_state s_;
  std::uint8_t direction_;  // v1::FlowDirection
};

}  // namespace sniffer
