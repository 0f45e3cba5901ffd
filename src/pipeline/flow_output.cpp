#include "sniffer/flow_output.hpp"

#include "sniffer/flow_csv.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {
google::protobuf::ArenaOptions arena_on(char* block, std::size_t size) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = size;
  return options;
}
}  // namespace

FlowOutput::Scratch::Scratch() : arena(arena_on(block, sizeof block)) {}

FlowOutput::FlowOutput(const InterfaceTable& interfaces, const HostAddresses& host, FlowStream* stream,
                       OutputFile* csv, std::uint16_t community_id_seed, const FlowLabels* labels)
    : interfaces_(&interfaces),
      host_(&host),
      stream_(stream),
      community_id_seed_(community_id_seed),
      csv_(csv),
      labels_(labels) {}

void FlowOutput::operator()(const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
  v1::FlowRecord* record;
  if (stream_) {
    record = stream_->add(monotonic_now_ns());
    record->Clear();
  } else {
    // A fresh record on the arena: Clear() would free its ten sub-messages,
    // and the fill allocate them again, for every flow.
    scratch_->arena.Reset();
    record = google::protobuf::Arena::CreateMessage<v1::FlowRecord>(&scratch_->arena);
  }
  flow.to_proto(*record, reason, is_update, clock_offset_ns_);
  record->set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  record->set_community_id(flow.community_id(community_id_seed_));
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) record->set_interface(it->second.name);
  if (labels_) record->set_label(labels_->label_of(*record));
  if (csv_) {
    row_.clear();  // keeps its capacity: no allocation per row
    append_flow_csv_row(row_, *record, labels_ != nullptr);
    csv_->write(row_);
  }
}

}  // namespace sniffer
