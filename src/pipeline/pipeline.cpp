#include "sniffer/pipeline.hpp"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/flow_csv.hpp"

namespace sniffer {

Pipeline::Pipeline(const Config& config, InterfaceTable interfaces, HostAddresses host,
                   const PipelineOutputs& outputs, std::uint64_t sensor_start_ns, ZmqRuntime& zmq)
    : interfaces_(std::move(interfaces)),
      host_(std::move(host)),
      flow_output_(interfaces_, host_, nullptr, nullptr),
      processor_(interfaces_, host_, nullptr, nullptr) {
  if (outputs.publish) {
    if (config.publish.curve) {
      const std::string& file = config.publish.curve->authorized_keys_file;
      std::set<std::string> keys = load_authorized_keys(file);
      if (keys.empty()) spdlog::warn("publish: \"{}\" lists no key: no subscriber can connect", file);
      else spdlog::info("publish: {} authorized subscriber key(s) from \"{}\"", keys.size(), file);
      zmq.authenticator().allow(kZapDomainPublish, std::move(keys));
    }
    socket_.emplace(zmq.context(), config.publish);
    if (config.publish.packet_events) {
      events_.emplace(*socket_, kTopicPackets, config.publish, config.sensor_id, sensor_start_ns);
    }
    if (config.flows.enabled) {
      flow_stream_.emplace(*socket_, kTopicFlows, config.publish, config.sensor_id, sensor_start_ns);
    }
  }
  if (!outputs.csv_path.empty()) {
    csv_.emplace(outputs.csv_path, "--write-csv");
    csv_->write(flow_csv_header(outputs.labels != nullptr));
  }
  const auto seed = static_cast<std::uint16_t>(config.publish.community_id_seed);
  labels_ = outputs.labels;
  flow_output_ = FlowOutput(interfaces_, host_, flow_stream_ ? &*flow_stream_ : nullptr, csv_ ? &*csv_ : nullptr,
                            seed, labels_.get());
  if (config.flows.enabled) {
    auto sink = [this](const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
      flow_output_(flow, reason, is_update);
    };
    if (aggregates_in_kernel(config.flows)) {
      if (!outputs.kernel_flow_map) throw Error("flows.aggregation \"kernel\": the programs have no flow map");
      kernel_flows_.emplace(*outputs.kernel_flow_map, outputs.kernel_flows_capacity, flow_table_config(config.flows),
                            sink, outputs.kernel_flows_started);
    } else {
      FlowTableConfig table = flow_table_config(config.flows);
      table.first_flow_id = outputs.first_flow_id;
      flows_.emplace(table, sink);
    }
  }
  processor_ =
      RecordProcessor(interfaces_, host_, events_ ? &*events_ : nullptr, flows_ ? &*flows_ : nullptr, seed);
}

void Pipeline::tick(std::uint64_t now_ns, std::uint64_t now_mono_ns) {
  if (flows_) flows_->expire(now_ns);
  if (kernel_flows_) {
    kernel_flows_->expire(now_ns - static_cast<std::uint64_t>(kernel_clock_offset_ns_));  // modular: no overflow
  }
  if (events_) events_->flush_if_due(now_mono_ns);
  if (flow_stream_) flow_stream_->flush_if_due(now_mono_ns);
}

int Pipeline::ms_until_due(std::uint64_t now_mono_ns) const {
  int due = -1;
  for (int d : {events_ ? events_->ms_until_due(now_mono_ns) : -1,
                flow_stream_ ? flow_stream_->ms_until_due(now_mono_ns) : -1}) {
    if (d >= 0 && (due < 0 || d < due)) due = d;
  }
  return due;
}

void Pipeline::publish_stats(const std::string& serialized_report) {
  if (socket_) socket_->send(kTopicStats, serialized_report);
}

bool Pipeline::wait_for_subscribers(double seconds) {
  if (!socket_) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  auto heard = [this] {
    return (!events_ || socket_->has_subscriber(kTopicPackets)) &&
           (!flow_stream_ || socket_->has_subscriber(kTopicFlows));
  };
  while (!heard()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Pipeline::finish(v1::FlowEndReason reason) {
  if (flows_) flows_->flush(reason);
  if (kernel_flows_) kernel_flows_->flush(reason);
  if (events_) events_->flush();
  if (flow_stream_) flow_stream_->flush();
  if (csv_) csv_->commit();  // complete: renamed into place
}

namespace {

// {"FLOW_END_FIN": n, ...} of either flow table's counters.
NamedCounts by_reason_name(const std::uint64_t (&by_reason)[v1::FlowEndReason_ARRAYSIZE]) {
  NamedCounts reasons;
  for (int r = 1; r < v1::FlowEndReason_ARRAYSIZE; ++r) {
    reasons[v1::FlowEndReason_Name(static_cast<v1::FlowEndReason>(r))] = by_reason[r];
  }
  return reasons;
}

}  // namespace

PipelineCounters Pipeline::counters() const {
  const ProcessorCounters& p = processor_.counters();
  PipelineCounters c{.records_processed = p.records,
                     .unknown_ifindex = p.unknown_ifindex,
                     .not_ip = p.not_ip,
                     .egress_forwarded = p.egress_forwarded};
  if (events_) c.events = events_->counters();
  if (flow_stream_) c.flow_stream = flow_stream_->counters();
  if (flows_) {
    const FlowTableCounters& t = flows_->counters();
    c.flows = FlowCounters{.packets = t.packets,
                           .created = t.created,
                           .ended = t.ended,
                           .updates = t.updates,
                           .evicted = t.evicted,
                           .active = flows_->size(),
                           .capacity = flows_->capacity(),
                           .ended_by_reason = by_reason_name(t.by_reason),
                           .kernel_drops = t.kernel_drops,
                           .kernel_drops_no_flow = t.kernel_drops_no_flow};
  }
  if (kernel_flows_) {
    // packets and created are the kernel's: the caller adds them.
    const KernelFlowCounters& k = kernel_flows_->counters();
    c.flows = FlowCounters{.kernel_aggregation = true,
                           .ended = k.ended,
                           .updates = k.updates,
                           .evicted = k.evicted,
                           .active = k.entries,
                           .capacity = kernel_flows_->capacity(),
                           .ended_by_reason = by_reason_name(k.by_reason),
                           .kernel_drops = k.kernel_drops,
                           .kernel_drops_no_flow = k.kernel_drops_no_flow,
                           .records = k.records,
                           .table_full = k.table_full,
                           .swept = k.swept,
                           .sweeps = k.sweeps,
                           .sweep_failures = k.sweep_failures};
  }
  return c;
}

}  // namespace sniffer
