#include "sniffer/flow_state.hpp"

#include <algorithm>

namespace sniffer {

namespace {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;

void set_stats(v1::Stats* out, const RunningStats& s, double scale = 1.0) {
  out->set_count(s.count());
  out->set_min(s.min() * scale);
  out->set_max(s.max() * scale);
  out->set_mean(s.mean() * scale);
  out->set_std(s.std() * scale);
  out->set_total(s.total() * scale);
}

void set_direction(v1::DirectionStats* out, const FlowState::Direction& d, double duration_s) {
  out->set_packets(d.packets);
  out->set_bytes(d.bytes);
  out->set_payload_bytes(d.payload_bytes);
  out->set_header_bytes(d.header_bytes);
  set_stats(out->mutable_payload_length(), d.payload_len);
  set_stats(out->mutable_iat_us(), d.iat_ns, 1e-3);
  out->set_psh_count(d.psh);
  out->set_urg_count(d.urg);
  out->set_init_window(d.init_window);
  out->set_data_packets(d.data_packets);
  out->set_min_header_bytes(d.min_header);
  out->set_bulk_count(d.bulk_count);
  out->set_bulk_packets(d.bulk_packets);
  out->set_bulk_bytes(d.bulk_bytes);
  out->set_bulk_duration_us(static_cast<double>(d.bulk_duration_ns) * 1e-3);
  out->set_packets_per_second(duration_s > 0 ? static_cast<double>(d.packets) / duration_s : 0.0);
}

}  // namespace

FlowKey FlowKey::of(const PacketInfo& p, bool& a_to_b) {
  FlowKey k;
  int cmp = std::memcmp(p.src.data(), p.dst.data(), 16);
  a_to_b = cmp < 0 || (cmp == 0 && p.sport <= p.dport);
  k.addr_a = a_to_b ? p.src : p.dst;
  k.addr_b = a_to_b ? p.dst : p.src;
  k.port_a = a_to_b ? p.sport : p.dport;
  k.port_b = a_to_b ? p.dport : p.sport;
  k.vlan_id = p.vlan_id;
  k.l4_proto = p.l4_proto;
  k.ip_version = p.ip_version;
  return k;
}

FlowState::FlowState(const FlowKey& key, const PacketInfo& first, bool first_a_to_b, std::uint64_t id,
                     std::uint8_t direction, const FlowFeatureParams& params)
    : key_(key),
      params_(params),
      id_(id),
      fwd_is_a_to_b_(first_a_to_b),
      direction_(direction),
      ifindex_(first.ifindex),
      mode_(first.mode),
      is_wan_facing_(first.is_wan_facing),
      first_ts_(first.ts_ns),
      last_ts_(first.ts_ns),
      active_start_(first.ts_ns),
      active_end_(first.ts_ns) {
  add(first, first_a_to_b);
}

void FlowState::add(const PacketInfo& p, bool a_to_b) {
  const bool forward = a_to_b == fwd_is_a_to_b_;
  Direction& d = forward ? fwd_ : bwd_;
  const Direction& other = forward ? bwd_ : fwd_;
  const bool first_packet = fwd_.packets + bwd_.packets == 0;
  // Records from several CPUs may arrive slightly out of order: time never
  // runs backwards inside a flow.
  const std::uint64_t t = std::max(p.ts_ns, last_ts_);

  if (!first_packet) iat_ns_.add(static_cast<double>(t - last_ts_));
  if (d.packets > 0) d.iat_ns.add(static_cast<double>(t - d.last_ts));
  d.last_ts = t;

  if (first_packet || t - last_ts_ > params_.subflow_gap_ns) ++subflow_count_;
  if (t - active_end_ > params_.activity_timeout_ns) {
    if (active_end_ > active_start_) active_ns_.add(static_cast<double>(active_end_ - active_start_));
    idle_ns_.add(static_cast<double>(t - active_end_));
    active_start_ = t;
  }
  active_end_ = t;

  ++d.packets;
  d.bytes += p.wire_len;
  d.payload_bytes += p.payload_len;
  d.header_bytes += p.header_len;
  if (p.payload_len > 0) ++d.data_packets;
  d.payload_len.add(p.payload_len);
  payload_len_.add(p.payload_len);
  d.min_header = d.packets == 1 ? p.header_len : std::min(d.min_header, p.header_len);

  if (p.has_tcp_header) {
    for (int bit = 0; bit < 8; ++bit) {
      if (p.tcp_flags & (1u << bit)) ++flag_counts_[bit];
    }
    if (p.tcp_flags & kPsh) ++d.psh;
    if (p.tcp_flags & kUrg) ++d.urg;
    if (d.init_window < 0) d.init_window = p.tcp_window;
    add_tcp(p, forward);
  }
  add_bulk(d, other, p);
  last_ts_ = t;
}

void FlowState::add_bulk(Direction& d, const Direction& other, const PacketInfo& p) {
  if (p.payload_len == 0) return;
  const std::uint64_t t = d.last_ts;
  // Data from the other side since this run began ends the run.
  if (d.bulk_run_packets > 0 && other.last_data_ts > d.bulk_run_start) d.bulk_run_packets = 0;
  if (d.bulk_run_packets == 0 || t - d.bulk_run_last > params_.bulk_gap_ns) {
    d.bulk_run_start = d.bulk_run_last = t;
    d.bulk_run_packets = 1;
    d.bulk_run_bytes = p.payload_len;
  } else {
    ++d.bulk_run_packets;
    d.bulk_run_bytes += p.payload_len;
    if (d.bulk_run_packets == 4) {  // the run becomes a bulk
      ++d.bulk_count;
      d.bulk_packets += 4;
      d.bulk_bytes += d.bulk_run_bytes;
      d.bulk_duration_ns += t - d.bulk_run_start;
    } else if (d.bulk_run_packets > 4) {
      ++d.bulk_packets;
      d.bulk_bytes += p.payload_len;
      d.bulk_duration_ns += t - d.bulk_run_last;
    }
    d.bulk_run_last = t;
  }
  d.last_data_ts = t;
}

void FlowState::note_history(char c, bool forward) {
  static constexpr const char* kLetters = "shafrd";
  const char* pos = std::strchr(kLetters, c);
  std::uint32_t bit = 1u << ((pos - kLetters) * 2 + (forward ? 0 : 1));
  if (history_seen_ & bit) return;
  history_seen_ |= bit;
  if (history_len_ < history_.size() - 1) history_[history_len_++] = forward ? static_cast<char>(c - 'a' + 'A') : c;
}

void FlowState::add_tcp(const PacketInfo& p, bool forward) {
  const std::uint8_t f = p.tcp_flags;
  if ((f & kSyn) && !(f & kAck)) {
    if (!has_syn_seq_) {
      has_syn_seq_ = true;
      syn_seq_ = p.tcp_seq;
    }
    note_history('s', forward);
    if (forward) syn_orig_ = true;
  }
  if ((f & kSyn) && (f & kAck)) {
    note_history('h', forward);
    if (!forward) synack_resp_ = true;
  }
  if ((f & kAck) && !(f & (kSyn | kFin | kRst)) && p.payload_len == 0) note_history('a', forward);
  if (p.payload_len > 0) note_history('d', forward);
  if (f & kFin) {
    note_history('f', forward);
    (forward ? fin_orig_ : fin_resp_) = true;
  }
  if (f & kRst) {
    note_history('r', forward);
    (forward ? rst_orig_ : rst_resp_) = true;
    rst_seen_ = true;
  }
}

std::string FlowState::conn_state() const {
  if (key_.l4_proto != 6) return "";
  const bool resp_sent = bwd_.packets > 0;
  if (syn_orig_ && !synack_resp_) {
    if (rst_resp_) return "REJ";
    if (rst_orig_) return "RSTOS0";
    if (fin_orig_) return "SH";
    return resp_sent ? "OTH" : "S0";
  }
  if (!syn_orig_ && synack_resp_) {
    if (rst_resp_) return "RSTRH";
    if (fin_resp_) return "SHR";
    return "OTH";
  }
  if (syn_orig_ && synack_resp_) {
    if (rst_orig_) return "RSTO";
    if (rst_resp_) return "RSTR";
    if (fin_orig_ && fin_resp_) return "SF";
    if (fin_orig_) return "S2";
    if (fin_resp_) return "S3";
    return "S1";
  }
  return "OTH";  // no SYN seen: picked up mid-stream
}

void FlowState::to_proto(v1::FlowRecord& r, v1::FlowEndReason reason, bool is_update) const {
  const double duration_s = static_cast<double>(last_ts_ - first_ts_) * 1e-9;
  r.set_flow_id(id_);
  r.set_start_ns(first_ts_);
  r.set_end_ns(last_ts_);
  r.set_duration_us(static_cast<double>(last_ts_ - first_ts_) * 1e-3);
  r.set_ip_version(key_.ip_version);
  const std::size_t alen = key_.ip_version == 4 ? 4 : 16;
  const auto& src = fwd_is_a_to_b_ ? key_.addr_a : key_.addr_b;
  const auto& dst = fwd_is_a_to_b_ ? key_.addr_b : key_.addr_a;
  r.set_src_addr(reinterpret_cast<const char*>(src.data()), alen);
  r.set_dst_addr(reinterpret_cast<const char*>(dst.data()), alen);
  r.set_src_port(fwd_is_a_to_b_ ? key_.port_a : key_.port_b);
  r.set_dst_port(fwd_is_a_to_b_ ? key_.port_b : key_.port_a);
  r.set_l4_protocol(key_.l4_proto);
  r.set_vlan_id(key_.vlan_id);

  r.set_ifindex(ifindex_);
  r.set_role(is_wan_facing_ ? v1::ROLE_WAN : v1::ROLE_LAN);
  r.set_mode(mode_ == SNIFFER_MODE_HOST_BASED ? v1::MODE_HOST_BASED
             : mode_ == SNIFFER_MODE_GATEWAY  ? v1::MODE_GATEWAY
                                              : v1::MODE_UNSPECIFIED);
  r.set_is_wan_facing(is_wan_facing_);
  r.set_direction(static_cast<v1::FlowDirection>(direction_));

  set_direction(r.mutable_fwd(), fwd_, duration_s);
  set_direction(r.mutable_bwd(), bwd_, duration_s);
  set_stats(r.mutable_payload_length(), payload_len_);
  set_stats(r.mutable_iat_us(), iat_ns_, 1e-3);
  r.set_fin_count(flag_counts_[0]);
  r.set_syn_count(flag_counts_[1]);
  r.set_rst_count(flag_counts_[2]);
  r.set_psh_count(flag_counts_[3]);
  r.set_ack_count(flag_counts_[4]);
  r.set_urg_count(flag_counts_[5]);
  r.set_ece_count(flag_counts_[6]);
  r.set_cwr_count(flag_counts_[7]);

  // The period still running counts as active.
  RunningStats active = active_ns_;
  if (active_end_ > active_start_) active.add(static_cast<double>(active_end_ - active_start_));
  set_stats(r.mutable_active_us(), active, 1e-3);
  set_stats(r.mutable_idle_us(), idle_ns_, 1e-3);
  r.set_subflow_count(subflow_count_);

  const double packets = static_cast<double>(fwd_.packets + bwd_.packets);
  const double payload = static_cast<double>(fwd_.payload_bytes + bwd_.payload_bytes);
  r.set_bytes_per_second(duration_s > 0 ? payload / duration_s : 0.0);
  r.set_packets_per_second(duration_s > 0 ? packets / duration_s : 0.0);
  r.set_down_up_ratio(fwd_.packets ? static_cast<double>(bwd_.packets) / static_cast<double>(fwd_.packets) : 0.0);
  r.set_conn_state(conn_state());
  r.set_history(std::string(history_.data(), history_len_));
  r.set_end_reason(reason);
  r.set_is_update(is_update);
  r.set_update_count(update_count_);
}

}  // namespace sniffer
