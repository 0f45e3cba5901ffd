// The Sensor's counters: one report of every stage, as the final report, the
// metrics endpoint, the log line and the "stats" topic show it.
#include <nlohmann/json.hpp>

#include "sniffer.pb.h"
#include "sniffer/sensor.hpp"
#include "sniffer/stats.hpp"

namespace sniffer {

nlohmann::json Sensor::kernel_report() const {
  nlohmann::json kernel = kernel_stats_json(progs_.read_counters(), interfaces());
  if (is_live()) kernel["ring_size_bytes"] = config_.capture.ring_buffer_bytes;
  return kernel;
}

nlohmann::json Sensor::report() const {
  nlohmann::json kernel = kernel_report();
  nlohmann::json user = drain_stats_json(ring_->counters());
  user.update(pipeline_->counters_json());
  // Kernel flow aggregation: the kernel's share of the flow counters.
  if (progs_.flow_kernel() && user.contains("flows")) {
    user["flows"]["packets"] = kernel.value("flow_packets", std::uint64_t{0});
    user["flows"]["created"] = progs_.flows_created();
  }
  // {"publish": {"accepted": n, "refused": n}, "control": ...}: with CURVE only.
  if (const ZapAuthenticator* auth = zmq_.authenticator_if_used()) user["auth"] = auth->counters_json();
  if (is_live()) {
    user["interface_events"] = manager_->link_json();
    user["netlink_resyncs"] = manager_->resyncs();
    user["blocklist"] = prevention_->counters_json();
  }
  return nlohmann::json{{"kernel", kernel}, {"userspace", user}};
}

nlohmann::json Sensor::dry_run_report() const {
  return nlohmann::json{
      {"dry_run", "ok"}, {"interfaces", interfaces().size()}, {"kernel", kernel_stats_json(progs_.read_counters(), interfaces())}};
}

void Sensor::publish_stats(const nlohmann::json& report) {
  v1::StatsReport stats;
  stats.set_sensor_id(config_.sensor_id);
  stats.set_sequence(++stats_sequence_);
  stats.set_sensor_start_ns(start_wall_ns_);
  stats.set_timestamp_ns(realtime_now_ns());
  stats.set_report_json(report.dump());
  pipeline_->publish_stats(stats.SerializeAsString());
}

void Sensor::update_metrics(const nlohmann::json& report) {
  if (metrics_) metrics_->update(prometheus_text(report));
}

}  // namespace sniffer
