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
  if (csv_ && !stream_ && !labels_) return write_row(flow, reason, is_update);
  v1::FlowRecord* record = &csv_record_;
  if (stream_) {
    record = stream_->add(monotonic_now_ns());
    record->Clear();
  }
  // Every field is set below, none only sometimes: the CSV's record, reused,
  // keeps nothing of the flow before.
  flow.to_proto(*record, reason, is_update, clock_offset_ns_);
  record->set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  record->set_community_id(flow.community_id(community_id_seed_));
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) {
    record->set_interface(it->second.name);
  } else {
    record->clear_interface();
  }
  if (labels_) record->set_label(labels_->label_of(*record));
  if (csv_) {  // the row written straight into the file's buffer
    char* const at = csv_->room(flow_csv_row_bound(*record));
    csv_->wrote(static_cast<std::size_t>(write_flow_csv_row(at, *record, labels_ != nullptr) - at));
  }
}

// The CSV alone: the row from plain values, no FlowRecord (its setters and
// strings were a fifth of a flow's output), the same bytes.
void FlowOutput::write_row(const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
  FlowRow row;
  flow.to_row(row, reason, is_update, clock_offset_ns_);
  row.set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  char id[kCommunityIdLength];
  row.set_community_id(flow.community_id(community_id_seed_, id));
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) row.set_interface(it->second.name);
  char* const at = csv_->room(flow_csv_row_bound(row));
  csv_->wrote(static_cast<std::size_t>(write_flow_csv_row(at, row) - at));
}

}  // namespace sniffer
