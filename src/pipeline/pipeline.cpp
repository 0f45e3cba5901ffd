#include "sniffer/pipeline.hpp"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/flow_csv.hpp"

namespace sniffer {

FlowTableConfig flow_table_config(const FlowConfig& f) {
  FlowTableConfig t;
  t.max_flows = f.max_flows;
  t.idle_timeout_ns = std::uint64_t{f.idle_timeout_ms} * 1000000u;
  t.active_timeout_ns = std::uint64_t{f.active_timeout_ms} * 1000000u;
  t.tcp_close_grace_ns = std::uint64_t{f.tcp_close_grace_ms} * 1000000u;
  t.features.activity_timeout_ns = std::uint64_t{f.activity_timeout_ms} * 1000000u;
  return t;
}

namespace {

nlohmann::json publish_json(const PublishCounters& c) {
  return {{"published", c.items_sent},
          {"batches_published", c.batches_sent},
          {"unsubscribed", c.items_unsubscribed},
          {"batches_unsubscribed", c.batches_unsubscribed},
          {"dropped_hwm", c.items_dropped_hwm},
          {"batches_dropped_hwm", c.batches_dropped_hwm}};
}

}  // namespace

Pipeline::Pipeline(const Config& config, InterfaceTable interfaces, HostAddresses host,
                   const PipelineOutputs& outputs, std::uint64_t sensor_start_ns)
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
      authenticator().allow(kZapDomainPublish, std::move(keys));
    }
    socket_.emplace(zmq_ctx_, config.publish);
    if (config.publish.packet_events) {
      events_.emplace(*socket_, kTopicPackets, config.publish, config.sensor_id, sensor_start_ns);
    }
    if (config.flows.enabled) {
      flow_stream_.emplace(*socket_, kTopicFlows, config.publish, config.sensor_id, sensor_start_ns);
    }
  }
  if (!outputs.csv_path.empty()) {
    csv_.emplace(outputs.csv_path, "--write-csv");
    csv_->write(flow_csv_header());
  }
  flow_output_ = FlowOutput(interfaces_, host_, flow_stream_ ? &*flow_stream_ : nullptr, csv_ ? &*csv_ : nullptr);
  if (config.flows.enabled) {
    auto sink = [this](const FlowState& flow, v1::FlowEndReason reason, bool is_update) {
      flow_output_(flow, reason, is_update);
    };
    if (aggregates_in_kernel(config.flows)) {
      if (outputs.kernel_flows_fd < 0) throw Error("flows.aggregation \"kernel\": the programs have no flow map");
      kernel_flows_.emplace(outputs.kernel_flows_fd, outputs.kernel_flows_capacity, flow_table_config(config.flows),
                            sink);
    } else {
      flows_.emplace(flow_table_config(config.flows), sink);
    }
  }
  processor_ = RecordProcessor(interfaces_, host_, events_ ? &*events_ : nullptr, flows_ ? &*flows_ : nullptr);
}

ZapAuthenticator& Pipeline::authenticator() {
  if (!auth_) auth_.emplace(zmq_ctx_);
  return *auth_;
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

nlohmann::json Pipeline::counters_json() const {
  const ProcessorCounters& p = processor_.counters();
  nlohmann::json j{{"records_processed", p.records},
                   {"unknown_ifindex", p.unknown_ifindex},
                   {"not_ip", p.not_ip},
                   {"egress_forwarded", p.egress_forwarded}};
  if (events_) {
    const PublishCounters& e = events_->counters();
    j["events_published"] = e.items_sent;
    j["events_unsubscribed"] = e.items_unsubscribed;
    j["events_dropped_hwm"] = e.items_dropped_hwm;
    j["batches_published"] = e.batches_sent;
    j["batches_unsubscribed"] = e.batches_unsubscribed;
    j["batches_dropped_hwm"] = e.batches_dropped_hwm;
  }
  nlohmann::json latency = nlohmann::json::object();
  auto add_latency = [&latency](const char* topic, const PublishCounters& c) {
    latency[topic] = {{"sum_seconds", static_cast<double>(c.batch_age_ns_sum) * 1e-9}, {"count", c.batches_sent}};
  };
  if (events_) add_latency(kTopicPackets, events_->counters());
  if (flow_stream_) add_latency(kTopicFlows, flow_stream_->counters());
  j["publish_latency"] = latency;
  if (auth_) j["auth"] = auth_->counters_json();  // {"publish": {"accepted": n, "refused": n}, ...}
  // {"FLOW_END_FIN": n, ...} of either flow table's counters.
  auto reasons_json = [](const std::uint64_t (&by_reason)[v1::FlowEndReason_ARRAYSIZE]) {
    nlohmann::json reasons;
    for (int r = 1; r < v1::FlowEndReason_ARRAYSIZE; ++r) {
      reasons[v1::FlowEndReason_Name(static_cast<v1::FlowEndReason>(r))] = by_reason[r];
    }
    return reasons;
  };
  if (flows_) {
    const FlowTableCounters& c = flows_->counters();
    const nlohmann::json reasons = reasons_json(c.by_reason);
    j["flows"] = {{"packets", c.packets},   {"created", c.created}, {"ended", c.ended},
                  {"updates", c.updates},   {"evicted", c.evicted}, {"active", flows_->size()},
                  {"capacity", flows_->capacity()}, {"ended_by_reason", reasons}};
    if (flow_stream_) j["flows"]["publish"] = publish_json(flow_stream_->counters());
  }
  if (kernel_flows_) {
    const KernelFlowCounters& c = kernel_flows_->counters();
    const nlohmann::json reasons = reasons_json(c.by_reason);
    // "packets" and "created" are the kernel's (the daemon adds them).
    j["flows"] = {{"aggregation", "kernel"},   {"records", c.records},
                  {"ended", c.ended},          {"updates", c.updates},
                  {"evicted", c.evicted},      {"table_full", c.table_full},
                  {"swept", c.swept},          {"sweeps", c.sweeps},
                  {"sweep_failures", c.sweep_failures},
                  {"active", c.entries},       {"capacity", kernel_flows_->capacity()},
                  {"ended_by_reason", reasons}};
    if (flow_stream_) j["flows"]["publish"] = publish_json(flow_stream_->counters());
  }
  return j;
}

}  // namespace sniffer
