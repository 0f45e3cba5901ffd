#include "sniffer/flow_output.hpp"

#include "sniffer/flow_csv.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

FlowOutput::FlowOutput(const InterfaceTable& interfaces, const HostAddresses& host, FlowStream* stream,
                       OutputFile* csv, std::uint16_t community_id_seed, const FlowLabels* labels)
    : interfaces_(&interfaces),
      host_(&host),
      stream_(stream),
      community_id_seed_(community_id_seed),
      csv_(csv),
      labels_(labels) {}

void FlowOutput::operator()(const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
  v1::FlowRecord* record = stream_ ? stream_->add(monotonic_now_ns()) : &scratch_;
  record->Clear();
  flow.to_proto(*record, reason, is_update, clock_offset_ns_);
  record->set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  record->set_community_id(flow.community_id(community_id_seed_));
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) record->set_interface(it->second.name);
  if (labels_) record->set_label(labels_->label_of(*record));
  if (csv_) csv_->write(flow_csv_row(*record, labels_ != nullptr));
}

}  // namespace sniffer
