// The Sensor's counters: one report of every stage, as the final report, the
// metrics endpoint, the log line and the "stats" topic show it.
#include <nlohmann/json.hpp>

#include "sniffer.pb.h"
#include "sniffer/accept_guard.hpp"
#include "sniffer/sensor.hpp"
#include "sniffer/stats.hpp"

namespace sniffer {

Report Sensor::report() const {
  Report r{.kernel = kernel_report(program_counters(), interfaces())};
  DrainCounters drained;
  for (const auto& worker : workers_) {
    const WorkerSnapshot w = worker->snapshot();
    drained += w.ring;
    r.pipeline += w.pipeline;
    r.workers.push_back({.records_received =
                             w.ring.records_received + w.ring.flow_records_received + w.ring.drop_records_received,
                         .records_processed = w.pipeline.records_processed,
                         .flows_active = w.pipeline.flows ? w.pipeline.flows->active : 0});
  }
  r.ring = ring_counters(drained);
  // Kernel flow aggregation: the kernel's share of the flow counters.
  if (progs_.flow_kernel() && r.pipeline.flows) {
    r.pipeline.flows->packets = r.kernel.total[SNIFFER_STAT_FLOW_PACKETS];
    r.pipeline.flows->created = flows_created();
  }
  if (const ZapAuthenticator* auth = zmq_.authenticator_if_used()) r.auth = auth->counters_by_domain();
  if (publish_) r.publish_connection_cuts = publish_->connection_cuts();
  r.connections_refused = accepts_refused_for_descriptors();
  if (metrics_) r.endpoints["metrics.listen"] = metrics_->refused();
  if (publish_) r.endpoints["publish.endpoint"] = publish_->refused();
  if (prevention_) {
    if (auto refused = prevention_->control_endpoint_refused()) r.endpoints["control.endpoint"] = *refused;
  }
  if (is_live()) {
    r.kernel.ring_size_bytes = config_.capture.ring_buffer_bytes;
    if (drops_) r.kernel.drops = drops_->read(interfaces());
    r.live = LiveCounters{.interface_events = manager_->link_counters(),
                          .netlink_resyncs = manager_->resyncs(),
                          .blocklist = prevention_->counters(),
                          .captures = captures_->counters()};
  }
  return r;
}

nlohmann::json Sensor::dry_run_report() const {
  return nlohmann::json{{"dry_run", "ok"},
                        {"interfaces", interfaces().size()},
                        {"kernel", to_json(kernel_report(program_counters(), interfaces()))}};
}

KernelCounters Sensor::program_counters() const {
  return user_engine_ ? user_engine_->read_counters() : progs_.read_counters();
}

// From the run's first flow id (a -j worker's file numbers its own range).
std::uint64_t Sensor::flows_created() const {
  const std::uint64_t last_id = user_engine_ ? user_engine_->flows_created() : progs_.flows_created();
  return last_id - (options_.first_flow_id - 1);
}

void Sensor::publish_stats(const Report& report) {
  v1::StatsReport stats;
  stats.set_sensor_id(config_.sensor_id);
  stats.set_sequence(++stats_sequence_);
  stats.set_sensor_start_ns(start_wall_ns_);
  stats.set_timestamp_ns(realtime_now_ns());
  stats.set_report_json(report.to_json().dump());
  if (publish_) publish_->send(kTopicStats, stats.SerializeAsString());
}

void Sensor::update_metrics(const Report& report) {
  if (!metrics_) return;
  if (metrics_->serving()) {
    metrics_->update(prometheus_text(report));
    return;
  }
  // Not serving: this text is first served once it binds (just below, or
  // later), and then it is bound; its first scrape must not say otherwise.
  Report served = report;
  served.endpoints["metrics.listen"] = "";
  metrics_->update(prometheus_text(served));
  metrics_->bind_if_due();
}

}  // namespace sniffer
