#include "sniffer/flow_state.hpp"

#include <cmath>

namespace sniffer {

namespace {

// The mean sum / n as the record has always had it: the quotient rounded to
// long double's 64 bits, then to double. For sum < 2^53 and n < 2^11 that is
// the double quotient itself, ~10x cheaper: both roundings can differ from one
// only when the 64-bit result is a midpoint between two doubles that the exact
// quotient is not; a midpoint lies a multiple of 2^(E-53) apart from it (the
// quotient in [2^E, 2^(E+1)), E < 53), so at least 2^(E-53) / n away, more
// than the 2^(E-64) the first rounding moves it when n < 2^11.
double mean_of(std::uint64_t sum, std::uint64_t n) {
  if (sum < (std::uint64_t{1} << 53) && n < 2048) return static_cast<double>(sum) / static_cast<double>(n);
  return static_cast<double>(static_cast<long double>(sum) / static_cast<long double>(n));
}

// Mean and sample standard deviation (n - 1, as CICFlowMeter's) from the
// integer sums. The sum of squared deviations, sumsq - sum^2 / n, is taken
// in 128-bit integers first, so no precision is lost to cancellation; below
// 2^64 in 64-bit ones (the same values, one division instruction).
template <typename Stats>
void set_stats(Stats* out, const sniffer_moments& m, double scale = 1.0) {
  out->set_count(m.count);
  if (m.count == 0) {
    out->set_min(0);
    out->set_max(0);
    out->set_mean(0);
    out->set_std(0);
    out->set_total(0);
    return;
  }
  out->set_min(static_cast<double>(m.min) * scale);
  out->set_max(static_cast<double>(m.max) * scale);
  out->set_mean(mean_of(m.sum, m.count) * scale);
  out->set_total(static_cast<double>(m.sum) * scale);
  double std = 0.0;
  if (m.count > 1) {
    const long double n = static_cast<long double>(m.count);
    const unsigned __int128 sumsq = (static_cast<unsigned __int128>(m.sumsq_hi) << 64) | m.sumsq_lo;
    const unsigned __int128 square = static_cast<unsigned __int128>(m.sum) * m.sum;
    unsigned __int128 q, r;
    if (square >> 64 == 0) {
      q = static_cast<std::uint64_t>(square) / m.count;
      r = static_cast<std::uint64_t>(square) % m.count;
    } else {
      q = square / m.count;
      r = square % m.count;
    }
    const unsigned __int128 whole = sumsq >= q ? sumsq - q : 0;  // sumsq >= sum^2/n (Cauchy-Schwarz)
    const long double whole_ld = whole >> 64 == 0 ? static_cast<long double>(static_cast<std::uint64_t>(whole))
                                                  : static_cast<long double>(whole);
    long double m2 = whole_ld - static_cast<long double>(static_cast<std::uint64_t>(r)) / n;
    if (m2 < 0) m2 = 0;
    std = static_cast<double>(std::sqrt(m2 / (n - 1)));
  }
  out->set_std(std * scale);
}

// Both directions' per-packet payload lengths as one stream.
sniffer_moments merged(const sniffer_moments& a, const sniffer_moments& b) {
  if (a.count == 0) return b;
  if (b.count == 0) return a;
  sniffer_moments m = a;
  m.count += b.count;
  m.sum += b.sum;
  m.sumsq_lo += b.sumsq_lo;
  m.sumsq_hi += b.sumsq_hi + (m.sumsq_lo < b.sumsq_lo ? 1 : 0);
  m.min = std::min(a.min, b.min);
  m.max = std::max(a.max, b.max);
  return m;
}

template <typename Direction>
void set_direction(Direction* out, const sniffer_flow_dir& d, double duration_s) {
  out->set_packets(d.payload.count);
  out->set_bytes(d.bytes);
  out->set_payload_bytes(d.payload.sum);
  out->set_header_bytes(d.header_bytes);
  set_stats(out->mutable_payload_length(), d.payload);
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
  out->set_packets_per_second(duration_s > 0 ? static_cast<double>(d.payload.count) / duration_s : 0.0);
}

}  // namespace

FlowState::FlowState(const FlowPacket& first, std::uint64_t id, const sniffer_flow_params& params) {
  const int a_to_b = first.a_to_b ? 1 : 0;
  sniffer_flow_init(&s_, &first.key, sniffer_flow_orig_is_a(&first.packet, a_to_b), id, &first.packet, first.ifindex,
                    first.mode, first.is_wan_facing, &params);
  add(first.packet, first.a_to_b, params);
}

void FlowState::hash_community_id(std::uint16_t seed) const {
  community_id_ = sniffer::community_id(community_id_tuple(), seed);
}

std::string_view FlowState::community_id(std::uint16_t seed, char (&buf)[kCommunityIdLength]) const {
  if (!community_id_.empty()) return community_id_;
  return {buf, static_cast<std::size_t>(write_community_id(buf, community_id_tuple(), seed) - buf)};
}

std::string_view FlowState::conn_state() const {
  using namespace std::string_view_literals;
  // UDP as Zeek: SF when both sides sent, S0 when only the originator did
  // (the first packet's sender is the originator, so it always sent).
  if (s_.key.l4_proto == 17) return s_.bwd.payload.count > 0 ? "SF"sv : "S0"sv;
  if (s_.key.l4_proto != 6) return ""sv;
  auto has = [this](std::uint8_t bit) { return (s_.tcp & bit) != 0; };
  const bool syn_orig = has(SNIFFER_TCP_SYN_ORIG), synack_resp = has(SNIFFER_TCP_SYNACK_RESP);
  const bool fin_orig = has(SNIFFER_TCP_FIN_ORIG), fin_resp = has(SNIFFER_TCP_FIN_RESP);
  const bool rst_orig = has(SNIFFER_TCP_RST_ORIG), rst_resp = has(SNIFFER_TCP_RST_RESP);
  const bool resp_sent = s_.bwd.payload.count > 0;
  if (syn_orig && !synack_resp) {
    if (rst_resp) return "REJ"sv;
    if (rst_orig) return "RSTOS0"sv;
    if (fin_orig) return "SH"sv;
    return resp_sent ? "OTH"sv : "S0"sv;
  }
  if (!syn_orig && synack_resp) {
    if (rst_resp) return "RSTRH"sv;
    if (fin_resp) return "SHR"sv;
    return "OTH"sv;
  }
  if (syn_orig && synack_resp) {
    if (rst_orig) return "RSTO"sv;
    if (rst_resp) return "RSTR"sv;
    if (fin_orig && fin_resp) return "SF"sv;
    if (fin_orig) return "S2"sv;
    if (fin_resp) return "S3"sv;
    return "S1"sv;
  }
  return "OTH"sv;  // no SYN seen: picked up mid-stream
}

// One fill for both: FlowRow has FlowRecord's setters.
template <typename Record>
void FlowState::fill(Record& r, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns) const {
  const sniffer_flow_state& s = s_;
  const double duration_s = static_cast<double>(s.last_ts - s.first_ts) * 1e-9;
  r.set_flow_id(s.flow_id);
  // Modular arithmetic: a state's times come from the kernel (or a damaged
  // record) and may be anything; a signed sum could overflow.
  const auto offset = static_cast<std::uint64_t>(clock_offset_ns);
  r.set_start_ns(s.first_ts + offset);
  r.set_end_ns(s.last_ts + offset);
  r.set_duration_us(static_cast<double>(s.last_ts - s.first_ts) * 1e-3);
  r.set_ip_version(s.key.ip_version);
  const std::size_t alen = s.key.ip_version == 4 ? 4 : 16;
  const std::uint8_t* src = s.fwd_is_a_to_b ? s.key.addr_a : s.key.addr_b;
  const std::uint8_t* dst = s.fwd_is_a_to_b ? s.key.addr_b : s.key.addr_a;
  r.set_src_addr(reinterpret_cast<const char*>(src), alen);
  r.set_dst_addr(reinterpret_cast<const char*>(dst), alen);
  r.set_src_port(s.fwd_is_a_to_b ? s.key.port_a : s.key.port_b);
  r.set_dst_port(s.fwd_is_a_to_b ? s.key.port_b : s.key.port_a);
  r.set_l4_protocol(s.key.l4_proto);
  r.set_vlan_id(s.key.vlan_id);

  r.set_ifindex(s.ifindex);
  r.set_role(s.is_wan_facing ? v1::ROLE_WAN : v1::ROLE_LAN);
  r.set_mode(s.mode == SNIFFER_MODE_HOST_BASED ? v1::MODE_HOST_BASED
             : s.mode == SNIFFER_MODE_GATEWAY  ? v1::MODE_GATEWAY
                                               : v1::MODE_UNSPECIFIED);
  r.set_is_wan_facing(s.is_wan_facing != 0);

  set_direction(r.mutable_fwd(), s.fwd, duration_s);
  set_direction(r.mutable_bwd(), s.bwd, duration_s);
  r.mutable_fwd()->set_kernel_dropped(kernel_dropped_[0]);
  r.mutable_bwd()->set_kernel_dropped(kernel_dropped_[1]);
  set_stats(r.mutable_payload_length(), merged(s.fwd.payload, s.bwd.payload));
  set_stats(r.mutable_iat_us(), s.iat_ns, 1e-3);
  r.set_fin_count(s.flag_counts[0]);
  r.set_syn_count(s.flag_counts[1]);
  r.set_rst_count(s.flag_counts[2]);
  r.set_psh_count(s.flag_counts[3]);
  r.set_ack_count(s.flag_counts[4]);
  r.set_urg_count(s.flag_counts[5]);
  r.set_ece_count(s.flag_counts[6]);
  r.set_cwr_count(s.flag_counts[7]);

  // The period still running counts as active.
  sniffer_moments active = s.active_ns;
  if (s.active_end > s.active_start) sniffer_moments_add(&active, s.active_end - s.active_start);
  set_stats(r.mutable_active_us(), active, 1e-3);
  set_stats(r.mutable_idle_us(), s.idle_ns, 1e-3);
  r.set_subflow_count(s.subflow_count);

  const double packets = static_cast<double>(s.fwd.payload.count + s.bwd.payload.count);
  const double payload = static_cast<double>(s.fwd.payload.sum + s.bwd.payload.sum);
  r.set_bytes_per_second(duration_s > 0 ? payload / duration_s : 0.0);
  r.set_packets_per_second(duration_s > 0 ? packets / duration_s : 0.0);
  r.set_down_up_ratio(s.fwd.payload.count
                          ? static_cast<double>(s.bwd.payload.count) / static_cast<double>(s.fwd.payload.count)
                          : 0.0);
  const std::string_view state = conn_state();
  r.set_conn_state(state.data(), state.size());
  r.set_history(reinterpret_cast<const char*>(s.history), std::min<std::size_t>(s.history_len, sizeof s.history));
  r.set_end_reason(reason);
  r.set_is_update(is_update);
  r.set_update_count(s.update_count);
}

void FlowState::to_proto(v1::FlowRecord& out, v1::FlowEndReason reason, bool is_update,
                         std::int64_t clock_offset_ns) const {
  fill(out, reason, is_update, clock_offset_ns);
}

void FlowState::to_row(FlowRow& out, v1::FlowEndReason reason, bool is_update, std::int64_t clock_offset_ns) const {
  fill(out, reason, is_update, clock_offset_ns);
}

}  // namespace sniffer
