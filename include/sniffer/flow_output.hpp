// The flows' way out: ended (or updated) flows to the flow stream and/or a
// CSV file, in both userspace and kernel flow aggregation.
#pragma once

#include <cstdint>
#include <string>

#include "sniffer/flow_labels.hpp"
#include "sniffer/flow_state.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/publisher.hpp"

namespace sniffer {

// Turns ended flows into FlowRecords for the flow stream and/or a CSV file;
// names their interface and classifies their direction, from the flow's
// state, both in userspace and kernel flow aggregation. With labels
// (--labels), each record gets its label, once, and the CSV its Label column.
class FlowOutput {
 public:
  FlowOutput(const InterfaceTable& interfaces, const HostAddresses& host, FlowStream* stream, OutputFile* csv,
             std::uint16_t community_id_seed = 0, const FlowLabels* labels = nullptr);
  void operator()(const FlowState& flow, v1::FlowEndReason reason, bool is_update);
  // Added to the flows' times to make them wall-clock times (kernel flows).
  void set_clock_offset(std::int64_t offset_ns) { clock_offset_ns_ = offset_ns; }
  // Writes the Community ID that the CSV's last row holds back (below); the
  // owner calls it before the CSV's file is committed.
  void finish();

 private:
  void write_row(const FlowState& flow, v1::FlowEndReason reason, bool is_update);

  const InterfaceTable* interfaces_;
  const HostAddresses* host_;
  std::int64_t clock_offset_ns_ = 0;
  FlowStream* stream_;
  std::uint16_t community_id_seed_;
  OutputFile* csv_;
  const FlowLabels* labels_;
  // The record of a flow written to the CSV only: one, reused and never
  // cleared (Clear() would free its ten sub-messages and the fill allocate
  // them again, for every flow); its strings keep their memory too.
  v1::FlowRecord csv_record_;
  // The CSV alone: a row whose flow's Community ID was not computed yet is
  // written with a placeholder and its ID held back, to be hashed together
  // with the next such row's (two SHA-1 chains overlap: write_community_id_pair).
  // pending_id_: the placeholder's place in the CSV's buffer, valid until the
  // next room() (which may flush), so resolved before it, and by finish().
  char* pending_id_ = nullptr;
  CommunityIdTuple pending_tuple_;
};

}  // namespace sniffer
