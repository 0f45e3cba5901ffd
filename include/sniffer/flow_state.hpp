// One bidirectional flow: its canonical key and its fixed-size feature state
// (running sums only, never per-packet vectors). Definitions of every
// feature: docs/flow-features.md.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "sniffer.pb.h"
#include "sniffer/packet_info.hpp"
#include "sniffer/running_stats.hpp"

namespace sniffer {

// Canonical bidirectional key: the (address, port) pair that sorts first is
// side A, so both directions of a conversation map to the same key.
struct FlowKey {
  std::array<std::uint8_t, 16> addr_a{}, addr_b{};
  std::uint16_t port_a = 0, port_b = 0;
  std::uint16_t vlan_id = 0;
  std::uint8_t l4_proto = 0;
  std::uint8_t ip_version = 0;

  bool operator==(const FlowKey& o) const {
    return std::memcmp(addr_a.data(), o.addr_a.data(), 16) == 0 && std::memcmp(addr_b.data(), o.addr_b.data(), 16) == 0 &&
           port_a == o.port_a && port_b == o.port_b && vlan_id == o.vlan_id && l4_proto == o.l4_proto &&
           ip_version == o.ip_version;
  }

  // The key of p, and whether p travels from side A to side B.
  static FlowKey of(const PacketInfo& p, bool& a_to_b);
};

// Tunables of the feature definitions (CICFlowMeter's values by default).
struct FlowFeatureParams {
  std::uint64_t activity_timeout_ns = 5'000'000'000;  // active/idle split
  std::uint64_t subflow_gap_ns = 1'000'000'000;
  std::uint64_t bulk_gap_ns = 1'000'000'000;
};

class FlowState {
 public:
  struct Direction {
    std::uint64_t packets = 0, bytes = 0, payload_bytes = 0, header_bytes = 0, data_packets = 0;
    RunningStats payload_len, iat_ns;
    std::uint64_t last_ts = 0, last_data_ts = 0;
    std::uint32_t psh = 0, urg = 0;
    std::int32_t init_window = -1;
    std::uint32_t min_header = 0;
    // Bulk detection: the candidate run, and completed bulks.
    std::uint64_t bulk_run_start = 0, bulk_run_last = 0, bulk_run_packets = 0, bulk_run_bytes = 0;
    std::uint64_t bulk_count = 0, bulk_packets = 0, bulk_bytes = 0, bulk_duration_ns = 0;
  };

  // Starts a flow with its first packet (which defines "forward").
  FlowState(const FlowKey& key, const PacketInfo& first, bool first_a_to_b, std::uint64_t id,
            std::uint8_t direction, const FlowFeatureParams& params);

  // Adds a packet (the first one included: the constructor calls it).
  void add(const PacketInfo& p, bool a_to_b);

  // Writes the record (the interface name is the caller's to set).
  void to_proto(v1::FlowRecord& out, v1::FlowEndReason reason, bool is_update) const;

  const FlowKey& key() const { return key_; }
  std::uint64_t id() const { return id_; }
  std::uint64_t first_ts() const { return first_ts_; }
  std::uint64_t last_ts() const { return last_ts_; }
  std::uint32_t ifindex() const { return ifindex_; }
  // TCP: both FINs or a RST seen; the flow ends after a short grace.
  bool closed() const { return rst_seen_ || (fin_orig_ && fin_resp_); }
  bool rst_seen() const { return rst_seen_; }
  // A SYN without ACK from either side (a connection attempt).
  static bool is_syn_only(const PacketInfo& p) { return p.has_tcp_header && (p.tcp_flags & 0x12) == 0x02; }
  // p opens a new connection on this flow's 5-tuple: a SYN whose sequence
  // number differs from the flow's first SYN, or any SYN once a flow that
  // never saw a SYN has closed. A SYN repeating the first one's sequence
  // number is a retransmission or a duplicate, in whatever state.
  bool is_new_connection(const PacketInfo& p) const {
    if (!is_syn_only(p)) return false;
    return has_syn_seq_ ? p.tcp_seq != syn_seq_ : closed();
  }
  std::uint32_t update_count() const { return update_count_; }
  void count_update() { ++update_count_; }

  std::string conn_state() const;

 private:
  void add_bulk(Direction& d, const Direction& other, const PacketInfo& p);
  void add_tcp(const PacketInfo& p, bool forward);
  void note_history(char c, bool forward);

  FlowKey key_;
  FlowFeatureParams params_;
  std::uint64_t id_;
  bool fwd_is_a_to_b_;
  std::uint8_t direction_;  // v1::FlowDirection
  std::uint32_t ifindex_;
  std::uint8_t mode_;
  bool is_wan_facing_;

  std::uint64_t first_ts_, last_ts_ = 0;
  Direction fwd_, bwd_;
  RunningStats payload_len_, iat_ns_;
  std::array<std::uint32_t, 8> flag_counts_{};  // FIN SYN RST PSH ACK URG ECE CWR (bit order)
  std::uint64_t active_start_, active_end_;
  RunningStats active_ns_, idle_ns_;
  std::uint64_t subflow_count_ = 0;
  std::uint32_t update_count_ = 0;

  // TCP connection state (Zeek-like), originator = forward.
  bool syn_orig_ = false, synack_resp_ = false;
  bool fin_orig_ = false, fin_resp_ = false, rst_orig_ = false, rst_resp_ = false, rst_seen_ = false;
  bool has_syn_seq_ = false;
  std::uint32_t syn_seq_ = 0;
  std::array<char, 24> history_{};
  std::uint8_t history_len_ = 0;
  std::uint32_t history_seen_ = 0;  // one bit per (letter, side) already recorded
};

}  // namespace sniffer
