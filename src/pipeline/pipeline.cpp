#include "sniffer/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/flow_csv.hpp"

namespace sniffer {

namespace {

// Worker `worker`'s share of `total` (the last one takes the remainder).
std::uint32_t shard_of(std::uint32_t total, std::uint32_t worker, std::uint32_t workers) {
  const std::uint32_t share = std::max(1u, total / workers), others = share * (workers - 1);
  return worker + 1 == workers && total > others ? total - others : share;
}

}  // namespace

void allow_publish_subscribers(const PublishConfig& publish, ZmqRuntime& zmq) {
  if (!publish.curve) return;
  const std::string& file = publish.curve->authorized_keys_file;
  std::set<std::string> keys = load_authorized_keys(file);
  if (keys.empty()) spdlog::warn("publish: \"{}\" lists no key: no subscriber can connect", file);
  else spdlog::info("publish: {} authorized subscriber key(s) from \"{}\"", keys.size(), file);
  zmq.authenticator().allow(kZapDomainPublish, std::move(keys));
}

Pipeline::Pipeline(const Config& config, InterfaceTable interfaces, HostAddresses host,
                   const PipelineOutputs& outputs, std::uint64_t sensor_start_ns)
    : interfaces_(std::move(interfaces)),
      host_(std::move(host)),
      socket_(outputs.socket),
      flow_output_(interfaces_, host_, nullptr, nullptr),
      processor_(interfaces_, host_, nullptr, nullptr) {
  if (socket_) {
    if (config.publish.packet_events) {
      events_.emplace(*socket_, kTopicPackets, config.publish, config.sensor_id, sensor_start_ns, outputs.worker);
    }
    if (config.flows.enabled) {
      flow_stream_.emplace(*socket_, kTopicFlows, config.publish, config.sensor_id, sensor_start_ns,
                           outputs.worker);
    }
  }
  if (!outputs.csv_path.empty()) {
    csv_.emplace(outputs.csv_path, "--write-csv");
    if (outputs.csv_uncached) csv_->bypass_page_cache();
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
      kernel_flows_.emplace(*outputs.kernel_flow_map,
                            shard_of(outputs.kernel_flows_capacity, outputs.worker, outputs.workers),
                            flow_table_config(config.flows), sink, outputs.kernel_flows_started);
    } else {
      FlowTableConfig table = flow_table_config(config.flows);
      table.max_flows = shard_of(table.max_flows, outputs.worker, outputs.workers);
      table.first_flow_id = outputs.first_flow_id + outputs.worker;
      table.flow_id_step = outputs.workers;
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
  flow_output_.finish();  // a Community ID the CSV's last row held back
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

namespace {

void add(NamedCounts& sum, const NamedCounts& part) {
  for (const auto& [name, n] : part) sum[name] += n;
}

void add(PublishCounters& sum, const PublishCounters& part) {
  sum.batches_sent += part.batches_sent;
  sum.items_sent += part.items_sent;
  sum.batches_unsubscribed += part.batches_unsubscribed;
  sum.items_unsubscribed += part.items_unsubscribed;
  sum.batches_dropped_hwm += part.batches_dropped_hwm;
  sum.items_dropped_hwm += part.items_dropped_hwm;
  sum.batch_age_ns_sum += part.batch_age_ns_sum;
}

void add(FlowCounters& sum, const FlowCounters& part) {
  for (auto field : {&FlowCounters::packets, &FlowCounters::created, &FlowCounters::ended, &FlowCounters::updates,
                     &FlowCounters::evicted, &FlowCounters::active, &FlowCounters::capacity,
                     &FlowCounters::kernel_drops, &FlowCounters::kernel_drops_no_flow, &FlowCounters::records,
                     &FlowCounters::table_full, &FlowCounters::swept, &FlowCounters::sweeps,
                     &FlowCounters::sweep_failures}) {
    sum.*field += part.*field;
  }
  add(sum.ended_by_reason, part.ended_by_reason);
}

template <typename T>
void add(std::optional<T>& sum, const std::optional<T>& part) {
  if (!part) return;
  if (!sum) sum = part;
  else add(*sum, *part);
}

}  // namespace

PipelineCounters& operator+=(PipelineCounters& sum, const PipelineCounters& part) {
  sum.records_processed += part.records_processed;
  sum.unknown_ifindex += part.unknown_ifindex;
  sum.not_ip += part.not_ip;
  sum.egress_forwarded += part.egress_forwarded;
  add(sum.events, part.events);
  add(sum.flow_stream, part.flow_stream);
  add(sum.flows, part.flows);
  return sum;
}

}  // namespace sniffer
