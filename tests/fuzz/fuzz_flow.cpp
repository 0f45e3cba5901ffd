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
  }, [](const sniffer::PacketInfo&) { return std::uint8_t{2}; });

  constexpr std::size_t kStep = 8;
  std::uint64_t t = 1000;
  for (std::size_t i = 0; i + kStep <= size; i += kStep) {
    const std::uint8_t* b = data + i;
    sniffer::PacketInfo p;
    t = b[0] & 0x80 ? t - (b[0] & 0x3f) : t + b[0];  // time may run backwards
    p.ts_ns = t;
    p.ip_version = b[1] & 1 ? 6 : 4;
    p.l4_proto = b[1] & 2 ? 6 : 17;
    p.src[3] = b[2] & 3;
    p.dst[3] = (b[2] >> 2) & 3;
    p.sport = b[3] & 3;
    p.dport = (b[3] >> 2) & 3;
    p.has_tcp_header = p.l4_proto == 6;
    p.tcp_flags = b[4];
    p.tcp_seq = b[5] & 3;
    p.payload_len = b[6];
    p.header_len = 40;
    p.wire_len = 14 + 40 + b[6];
    p.vlan_id = b[7] & 1;
    table.add(p);
    if (table.size() > cfg.max_flows) __builtin_trap();
    if (b[7] & 0x80) table.expire(t);
  }
  table.flush(sniffer::v1::FLOW_END_SHUTDOWN);
  const auto& c = table.counters();
  if (table.size() != 0 || c.created != c.ended || finals != c.ended) __builtin_trap();
  return 0;
}
