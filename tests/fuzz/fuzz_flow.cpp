// libFuzzer: the flow table under arbitrary packet sequences (time jumping
// backwards, port reuse, floods of flows into a tiny table): it must keep
// its invariants and export every flow exactly once.
#include <cstdint>
#include <cstring>

#include "sniffer/flow_csv.hpp"
#include "sniffer/flow_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sniffer::FlowTableConfig cfg;
  cfg.max_flows = 4;
  cfg.idle_timeout_ns = 50;
  cfg.active_timeout_ns = 200;
  cfg.tcp_close_grace_ns = 10;
  std::size_t finals = 0;
  sniffer::FlowTable table(cfg, [&](const sniffer::FlowState& f, sniffer::v1::FlowEndReason r, bool update) {
    sniffer::v1::FlowRecord out;
    f.to_proto(out, r, update);
    (void)sniffer::flow_csv_row(out);
    if (!update) ++finals;
  });

  constexpr std::size_t kStep = 8;
  std::uint64_t t = 1000;
  for (std::size_t i = 0; i + kStep <= size; i += kStep) {
    const std::uint8_t* b = data + i;
    sniffer_record r{};
    t = b[0] & 0x80 ? t - (b[0] & 0x3f) : t + b[0];  // time may run backwards
    r.ip_version = b[1] & 1 ? 6 : 4;
    r.l4_proto = b[1] & 2 ? 6 : 17;
    r.saddr[3] = b[2] & 3;
    r.daddr[3] = (b[2] >> 2) & 3;
    r.sport = b[3] & 3;
    r.dport = (b[3] >> 2) & 3;
    r.l3_hdr_len = 20;
    r.l4_hdr_len = 20;
    r.tcp_flags = b[4];
    r.tcp_seq = b[5] & 3;
    r.ip_total_len = static_cast<std::uint16_t>(40 + b[6]);
    r.wire_len = 14 + 40 + b[6];
    r.vlan_count = b[7] & 1;
    r.vlan_ids[0] = 1;
    sniffer::FlowPacket p;
    if (!sniffer::flow_packet_of(r, t, p)) __builtin_trap();
    table.add(p);
    if (table.size() > cfg.max_flows) __builtin_trap();
    if (b[7] & 0x80) table.expire(t);
  }
  table.flush(sniffer::v1::FLOW_END_SHUTDOWN);
  const auto& c = table.counters();
  if (table.size() != 0 || c.created != c.ended || finals != c.ended) __builtin_trap();
  return 0;
}
