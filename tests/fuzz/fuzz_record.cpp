// libFuzzer: ring records as they come from the kernel (or from a corrupted
// or foreign producer): decode, then everything a valid record goes
// through in userspace (event, JSON, flow table input). Flow records (kernel
// flow aggregation) carry an arbitrary flow state: it must become a
// FlowRecord and a CSV row without a trap, whatever its sums say.
#include <cstdint>
#include <cstring>
#include <vector>

#include "sniffer/event_codec.hpp"
#include "sniffer/event_json.hpp"
#include "sniffer/flow_csv.hpp"
#include "sniffer/flow_table.hpp"
#include "sniffer/record.hpp"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // First byte: the snippet capacity the "programs" were loaded with.
  const std::uint32_t capacity = data[0] % 2 ? 0 : data[1];
  if (sniffer::record_magic(data + 2, size - 2) == SNIFFER_FLOW_RECORD_MAGIC) {
    sniffer_flow_record flow;
    if (sniffer::decode_flow_record(data + 2, size - 2, flow) != sniffer::DecodeStatus::Ok) return 0;
    sniffer::v1::FlowRecord out;
    sniffer::FlowState(flow.state).to_proto(out, static_cast<sniffer::v1::FlowEndReason>(flow.end_reason % 10),
                                                       flow.is_update != 0, -static_cast<std::int64_t>(data[1]));
    (void)sniffer::flow_csv_row(out);
    return 0;
  }
  sniffer::DecodedRecord rec;
  if (sniffer::decode_record(data + 2, size - 2, capacity, rec) != sniffer::DecodeStatus::Ok) return 0;
  sniffer::v1::PacketEvent event;
  sniffer::record_to_event(rec, nullptr, 0, event);
  (void)sniffer::event_to_json(event).dump();
  sniffer::FlowPacket p;
  if (sniffer::flow_packet_of(rec.header, rec.header.ts_mono_ns, p)) {
    sniffer::FlowTableConfig cfg;
    cfg.max_flows = 2;
    std::size_t exported = 0;
    sniffer::FlowTable table(cfg, [&](const sniffer::FlowState& f, sniffer::v1::FlowEndReason r, bool u) {
      sniffer::v1::FlowRecord out;
      f.to_proto(out, r, u);
      ++exported;
    });
    table.add(p);
    table.flush(sniffer::v1::FLOW_END_SHUTDOWN);
    if (exported != 1) __builtin_trap();
  }
  return 0;
}
