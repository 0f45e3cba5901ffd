#include "sniffer/flow_output.hpp"

#include <cstring>
#include <string_view>

#include "sniffer/error.hpp"
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

namespace {

// The placeholder of a held-back Community ID cell (overwritten by the ID).
constexpr std::string_view kHeldId = "1:\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
                                     "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01";
static_assert(kHeldId.size() == kCommunityIdLength);

// The placeholder's place in a row just written: the Community ID is the
// last cell of a row without labels (flow_csv.hpp), before the newline.
char* held_id_in(char* end) {
  char* const cell = end - 1 - kCommunityIdLength;
  if (std::string_view(cell, kCommunityIdLength) != kHeldId) throw Error("CSV: the row does not end in its Community ID");
  return cell;
}

}  // namespace

// The CSV alone: the row from plain values, no FlowRecord (its setters and
// strings were a fifth of a flow's output), the same bytes.
void FlowOutput::write_row(const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
  FlowRow row;
  flow.to_row(row, reason, is_update, clock_offset_ns_);
  row.set_direction(static_cast<v1::FlowDirection>(host_->classify(flow.state())));
  char id[kCommunityIdLength];
  bool held = false;
  if (flow.community_id_kept()) {
    finish();  // a held ID first: room() below may flush its row
    row.set_community_id(flow.community_id(community_id_seed_, id));
  } else if (pending_id_) {  // this ID and the held one together, before room() may flush that
    write_community_id_pair(pending_id_, pending_tuple_, id, flow.community_id_tuple(), community_id_seed_);
    pending_id_ = nullptr;
    row.set_community_id({id, kCommunityIdLength});
  } else {
    pending_tuple_ = flow.community_id_tuple();
    row.set_community_id(kHeldId);
    held = true;
  }
  auto it = interfaces_->find(flow.ifindex());
  if (it != interfaces_->end()) row.set_interface(it->second.name);
  char* const at = csv_->room(flow_csv_row_bound(row));
  char* const end = write_flow_csv_row(at, row);
  if (held) {
    pending_id_ = held_id_in(end);
    // room() flushes before a row rather than after while the bound exceeds
    // the row; were a row to fill the buffer exactly, it would leave now.
    if (csv_->wrote_flushes(static_cast<std::size_t>(end - at))) finish();
  }
  csv_->wrote(static_cast<std::size_t>(end - at));
}

void FlowOutput::finish() {
  if (!pending_id_) return;
  write_community_id(pending_id_, pending_tuple_, community_id_seed_);
  pending_id_ = nullptr;
}

}  // namespace sniffer
