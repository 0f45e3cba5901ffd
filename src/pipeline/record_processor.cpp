#include "sniffer/record_processor.hpp"

#include <cstring>

#include "sniffer/event_codec.hpp"
#include "sniffer/flow_csv.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

RecordProcessor::RecordProcessor(const InterfaceTable& interfaces, const HostAddresses& host, EventStream* events,
                                 FlowTable* flows)
    : interfaces_(&interfaces), host_(&host), events_(events), flows_(flows) {}

bool RecordProcessor::sent_by_host(const sniffer_record& r) const {
  HostAddresses::Address src;
  std::memcpy(src.data(), r.saddr, src.size());
  return host_->is_local(r.ip_version, src);
}

void RecordProcessor::process(const DecodedRecord& record, std::uint64_t ts_ns, std::uint64_t now_mono_ns) {
  ++counters_.records;
  const sniffer_record& r = record.header;
  auto it = interfaces_->find(r.ifindex);
  const InterfaceInfo* iface = it == interfaces_->end() ? nullptr : &it->second;
  if (!iface) ++counters_.unknown_ifindex;

  if (events_) record_to_event(record, iface, ts_ns, *events_->add(now_mono_ns));

  if (!flows_) return;
  if (!flow_packet_of(r, ts_ns, packet_)) {
    ++counters_.not_ip;
    return;
  }
  // A forwarded packet leaving through TC egress was already counted when
  // it entered: only the host's own packets count at egress.
  if (r.hook == SNIFFER_HOOK_TC_EGRESS && !sent_by_host(r)) {
    ++counters_.egress_forwarded;
    return;
  }
  flows_->add(packet_);
}

FlowOutput::FlowOutput(const InterfaceTable& interfaces, const HostAddresses& host, FlowStream* stream,
                       OutputFile* csv)
    : interfaces_(&interfaces), host_(&host), stream_(stream), csv_(csv) {}

void FlowOutput::operator()(const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
  v1::FlowRecord* record = stream_ ? stream_->add(monotonic_now_ns()) : &scratch_;
  record->Clear();
  flow.to_proto(*record, reason, is_update, clock_offset_ns_);
  record->set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) record->set_interface(it->second.name);
  if (csv_) csv_->write(flow_csv_row(*record));
}

}  // namespace sniffer
