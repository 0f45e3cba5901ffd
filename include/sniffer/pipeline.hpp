// The user half of the data path, assembled from the config: record ->
// PacketEvent stream and/or flow table -> FlowRecord stream and/or CSV.
// The live daemon and the offline pcap reader drive the same Pipeline.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "sniffer/config.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/flow_output.hpp"
#include "sniffer/flow_table.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/kernel_flows.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/record_processor.hpp"
#include "sniffer/zmq_runtime.hpp"

namespace sniffer {

struct PipelineOutputs {
  PublishSocket* socket = nullptr;  // publish here (null: not publishing); it outlives the pipeline
  // capture.workers: this pipeline is worker `worker` of `workers`, with
  // that share of flows.max_flows and flow ids (userspace aggregation).
  std::uint32_t worker = 0, workers = 1;
  std::string csv_path;  // write flow records here too (empty: no CSV)
  bool csv_uncached = false;  // the CSV past its first 8 MiB bypasses the page cache (OutputFile::bypass_page_cache)
  std::shared_ptr<const FlowLabels> labels;  // --labels: label every flow record (and a Label column)
  std::uint64_t first_flow_id = 1;           // userspace flow table (FlowTableConfig::first_flow_id); the kernel's: the Sensor
  // Kernel flow aggregation: the programs' "flows" map (it outlives the pipeline) and its size.
  FlowMap* kernel_flow_map = nullptr;
  std::uint32_t kernel_flows_capacity = 0;
  KernelFlows::FlowsStarted kernel_flows_started;  // offline only (see KernelFlows)
};

// With publish.curve: lets the subscribers of publish.curve's
// authorized_keys_file through `zmq`'s ZAP handler (domain "publish"),
// before the publish socket is made.
void allow_publish_subscribers(const PublishConfig& publish, ZmqRuntime& zmq);

// Adds one worker's counters to a sum over workers.
PipelineCounters& operator+=(PipelineCounters& sum, const PipelineCounters& part);

class Pipeline {
 public:
  Pipeline(const Config& config, InterfaceTable interfaces, HostAddresses host, const PipelineOutputs& outputs,
           std::uint64_t sensor_start_ns);

  void process(const DecodedRecord& record, std::uint64_t ts_ns, std::uint64_t now_mono_ns) {
    processor_.process(record, ts_ns, now_mono_ns);
  }
  void process_group(const DecodedRecord* const* records, const std::uint64_t* ts_ns, std::size_t n,
                     std::uint64_t now_mono_ns) {
    processor_.process_group(records, ts_ns, n, now_mono_ns);
  }
  // A ring sample process() gets a few records later (RingReader's peek).
  void prefetch(const void* data, std::size_t size) { processor_.prefetch(data, size); }
  // Whether prefetch() would do anything now (a flow table past the caches).
  bool prefetch_pays() const { return flows_ && flows_->prefetch_pays(); }
  // A flow record the kernel aggregated (kernel flow aggregation).
  void process_flow(const sniffer_flow_record& record) {
    if (kernel_flows_) kernel_flows_->on_record(record);
  }
  // A packet the kernel dropped: counted on its flow, in either aggregation.
  void process_drop(const sniffer_drop_record& record) {
    FlowKey key;
    const bool a_to_b = sniffer_flow_key_make(record.saddr, record.daddr, record.sport, record.dport, 0,
                                              record.l4_proto, record.ip_version, &key) != 0;
    if (flows_) flows_->count_kernel_drop(key, a_to_b);
    if (kernel_flows_) kernel_flows_->on_drop(key, a_to_b);
  }
  // Kernel flow aggregation, live: the flows' times are CLOCK_MONOTONIC;
  // records and sweeps convert with this offset (wall - monotonic).
  void set_kernel_clock_offset(std::int64_t offset_ns) {
    kernel_clock_offset_ns_ = offset_ns;
    flow_output_.set_clock_offset(offset_ns);
  }
  // Time passes: ends idle flows (now_ns on the packets' clock) and sends
  // batches that are due.
  void tick(std::uint64_t now_ns, std::uint64_t now_mono_ns);
  // Milliseconds until a batch is due, or -1.
  int ms_until_due(std::uint64_t now_mono_ns) const;
  // Ends every flow with `reason`, sends everything pending and completes the
  // CSV file (throws, naming it, when it could not be written whole).
  void finish(v1::FlowEndReason reason);

  // Live reload: the interfaces and host addresses change in place (the
  // processor and flow output refer to these members).
  void set_interfaces(InterfaceTable interfaces, HostAddresses host) {
    interfaces_ = std::move(interfaces);
    host_ = std::move(host);
    processor_.forget_interface();
    if (events_) events_->payload().forget_interfaces();
  }

  // Offline: waits until every enabled stream (packet events, flow records)
  // has a subscriber, at most `seconds`; false if one still has none.
  bool wait_for_subscribers(double seconds);

  const InterfaceTable& interfaces() const { return interfaces_; }
  // The record processor's, the streams', the flow table's counters.
  PipelineCounters counters() const;

 private:
  InterfaceTable interfaces_;
  HostAddresses host_;
  PublishSocket* socket_;
  std::optional<EventStream> events_;
  std::optional<FlowStream> flow_stream_;
  std::optional<OutputFile> csv_;
  std::shared_ptr<const FlowLabels> labels_;
  FlowOutput flow_output_;
  std::optional<FlowTable> flows_;
  std::optional<KernelFlows> kernel_flows_;
  std::int64_t kernel_clock_offset_ns_ = 0;
  RecordProcessor processor_;
};

}  // namespace sniffer
