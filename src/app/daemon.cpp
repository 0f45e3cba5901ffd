#include "sniffer/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/attach.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/instance_lock.hpp"
#include "sniffer/interface_manager.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/link_monitor.hpp"
#include "sniffer/load_options.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/pipeline.hpp"
#include "sniffer/prevention.hpp"
#include "sniffer/ring_reader.hpp"
#include "sniffer/stats.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_reload_signal = 0;

// Something to do every interval_ns on the monotonic clock (0: never).
class Every {
 public:
  explicit Every(std::uint64_t interval_ns) : interval_(interval_ns), next_(monotonic_now_ns() + interval_ns) {}
  bool due(std::uint64_t now) {
    if (interval_ == 0 || now < next_) return false;
    next_ = now + interval_;
    return true;
  }

 private:
  std::uint64_t interval_, next_;
};

void on_stop_signal(int sig) { g_stop_signal = sig; }
void on_reload_signal(int) { g_reload_signal = 1; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_reload_signal;
  sigaction(SIGHUP, &sa, nullptr);
}

// Keys a reload cannot apply to running programs and sockets.
void warn_restart_only_changes(const Config& running, const Config& next) {
  nlohmann::json a = config_to_json(running), b = config_to_json(next);
  for (const char* key : {"sensor_id", "capture", "flows", "publish", "metrics", "control", "btf_path", "pin_path"}) {
    if (a[key] != b[key]) {
      spdlog::warn("reload: \"{}\" changed: it takes effect at the next restart; the running value stays", key);
    }
  }
  if (running.blocklist.max_entries != next.blocklist.max_entries) {
    spdlog::warn("reload: \"blocklist.max_entries\" changed: it sizes the tries, so it takes effect at the next "
                 "restart; the running value stays");
  }
}

}  // namespace

PipelineOutputs kernel_flow_outputs(const BpfPrograms& progs, PipelineOutputs outputs) {
  if (progs.flow_kernel()) {
    outputs.kernel_flows_fd = progs.flows_map_fd();
    outputs.kernel_flows_capacity = progs.flow_max_entries();
  }
  return outputs;
}

void add_kernel_flow_counts(const BpfPrograms& progs, const nlohmann::json& kernel, nlohmann::json& user) {
  if (!progs.flow_kernel() || !user.contains("flows")) return;
  user["flows"]["packets"] = kernel.value("flow_packets", std::uint64_t{0});
  user["flows"]["created"] = progs.flows_created();
}

void fill_maps(BpfPrograms& progs, const Config& config, const InterfaceTable& interfaces) {
  for (const auto& [ifindex, info] : interfaces) progs.set_interface(ifindex, info.mode, info.role, info.stats_slot);
  progs.set_filter(config.filter, record_ports(config));
}

namespace {

// The interfaces or the host's addresses changed: the pipeline and the
// programs' local_addrs (kernel flow aggregation) learn them.
void refresh_host(BpfPrograms& progs, Pipeline& pipeline, const InterfaceTable& interfaces) {
  HostAddresses host = HostAddresses::from_system(interfaces);
  progs.set_local_addresses(host.local_list());
  pipeline.set_interfaces(interfaces, std::move(host));
}

// SIGHUP: re-read the config and apply what can change without reloading the
// programs (interfaces, roles, modes, hooks, filters, log level). An invalid
// config is rejected and the running one stays.
void reload(Config& config, const RunOptions& options, BpfPrograms& progs, InterfaceManager& manager,
            Pipeline& pipeline, RingReader& ring, Prevention& prevention) {
  if (!options.reload) {
    spdlog::warn("SIGHUP: no config file to re-read (started with --interface only)");
    return;
  }
  sd_notify(0, "RELOADING=1");
  try {
    Config next = options.reload();
    manager.check(next.interfaces);  // before any change: a missing new interface rejects it all
    prevention.check(next.blocklist);  // likewise a static entry the blocklist guard refuses
    warn_restart_only_changes(config, next);
    ring.consume();  // records read before the tables change keep their old context
    manager.set_blocklist_roles(next.blocklist.roles);
    manager.configure(next.interfaces);
    progs.set_filter(next.filter, record_ports(config));  // flows.*: restart only
    manager.attach();
    refresh_host(progs, pipeline, manager.table());
    if (next.log_level != config.log_level) spdlog::set_level(spdlog::level::from_str(next.log_level));
    config.interfaces = next.interfaces;
    config.filter = next.filter;
    config.log_level = next.log_level;
    prevention.reload(next.blocklist);
    const std::uint32_t max_entries = config.blocklist.max_entries;
    config.blocklist = next.blocklist;
    config.blocklist.max_entries = max_entries;  // sizes the tries: fixed until a restart
    spdlog::info("reload: applied ({} interfaces)", manager.table().size());
  } catch (const ConfigInvalid& e) {
    spdlog::error("reload rejected, the running configuration stays: {}", e.what());
  } catch (const InterfaceUnavailable& e) {
    spdlog::error("reload rejected, the running configuration stays: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("reload failed part way: {}; interfaces now monitored: {}", e.what(), manager.table().size());
  }
  sd_notify(0, "READY=1");
}

}  // namespace

int run_daemon(const Config& initial_config, const RunOptions& options) {
  Config config = initial_config;
  const std::uint64_t start_wall_ns = realtime_now_ns();
  for (std::size_t i = 0; i < config.interfaces.size(); ++i) {  // fail early, before loading anything
    resolve_ifindex(config.interfaces[i].name, "interfaces[" + std::to_string(i) + "].name");
  }

  // Before anything shared (pins, socket files, ports, interfaces) is touched:
  // a second sensor with this pin path stops here and changes nothing.
  std::optional<InstanceLock> lock;
  if (!config.pin_path.empty() && !options.dry_run) lock.emplace(config.pin_path);

  BpfPrograms progs(load_options(config));  // after the lock: its pins are removed before the lock is released
  spdlog::info("BPF programs loaded (ABI {}, ring buffer {} bytes, payload snippet {} bytes)", SNIFFER_ABI_VERSION,
               config.capture.ring_buffer_bytes, config.capture.payload_bytes);
  if (progs.flow_kernel()) {
    const std::size_t ports = record_ports(config).size();
    spdlog::info("flows aggregated in the kernel: map of {} flows ({} MiB preallocated); packet events: {}{}",
                 progs.flow_max_entries(),
                 (std::uint64_t{progs.flow_max_entries()} * sizeof(sniffer_flow_value)) >> 20,
                 !config.publish.packet_events              ? std::string("off")
                 : config.flows.packet_sample_one_in == 0   ? std::string("none sampled (packet_sample_one_in 0)")
                                                             : "1 in " + std::to_string(config.flows.packet_sample_one_in),
                 ports == 0 ? std::string()
                            : ", and every packet of " + std::to_string(ports) + " port(s) (flows.packet_ports)");
  }
  if (!config.pin_path.empty() && !options.dry_run) progs.pin_maps(config.pin_path);
  LinkMonitor links;  // opened before resolving the interfaces: no link event in between is missed
  InterfaceManager manager(progs, config.capture.tc_attach);
  manager.set_blocklist_roles(config.blocklist.roles);
  manager.configure(config.interfaces);
  progs.set_filter(config.filter, record_ports(config));
  const InterfaceTable& interfaces = manager.table();

  if (options.dry_run) {
    std::cout << nlohmann::json{{"dry_run", "ok"},
                                {"interfaces", interfaces.size()},
                                {"kernel", kernel_stats_json(progs.read_counters(), interfaces)}}
                     .dump()
              << std::endl;
    spdlog::info("dry run: programs verified and maps filled; nothing attached");
    return 0;
  }

  HostAddresses host = HostAddresses::from_system(interfaces);
  progs.set_local_addresses(host.local_list());
  Pipeline pipeline(config, interfaces, host, kernel_flow_outputs(progs, PipelineOutputs{.publish = true}),
                    start_wall_ns);
  MonotonicToWall clock;
  pipeline.set_kernel_clock_offset(clock.offset_ns());
  std::uint64_t now_mono = monotonic_now_ns();
  RingReader ring(
      progs.events_map_fd(), config.capture.payload_bytes,
      [&](const DecodedRecord& r) { pipeline.process(r, clock.to_wall_ns(r.header.ts_mono_ns), now_mono); },
      [&](const sniffer_flow_record& r) { pipeline.process_flow(r); });
  std::optional<MetricsServer> metrics;
  if (!config.metrics.listen.empty()) metrics.emplace(config.metrics.listen);
  Prevention prevention(progs, config, pipeline);

  // The counters of every stage, as the final report, the metrics and the
  // "stats" topic show them.
  auto report = [&] {
    nlohmann::json kernel = kernel_stats_json(progs.read_counters(), interfaces);
    kernel["ring_size_bytes"] = config.capture.ring_buffer_bytes;
    nlohmann::json user = drain_stats_json(ring.counters());
    user.update(pipeline.counters_json());
    add_kernel_flow_counts(progs, kernel, user);
    user["interface_events"] = manager.link_json();
    user["netlink_resyncs"] = manager.resyncs();
    user["blocklist"] = prevention.counters_json();
    return nlohmann::json{{"kernel", kernel}, {"userspace", user}};
  };

  install_signal_handlers();
  manager.attach();
  spdlog::info("xdp: attached through the kernel's bpf_link, one program per interface; libxdp's multi-program "
               "dispatcher is not used");
  spdlog::info("publishing on {} (packet events {}, flow records {}), sensor id \"{}\"{}", config.publish.endpoint,
               config.publish.packet_events ? "on" : "off", config.flows.enabled ? "on" : "off", config.sensor_id,
               metrics ? ", metrics on http://" + config.metrics.listen + "/metrics" : std::string());
  sd_notifyf(0, "READY=1\nSTATUS=capturing on %zu interface(s)", interfaces.size());

  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  Every resync(60'000'000'000), refresh(1'000'000'000), ping(watchdog ? watchdog_usec * 500 : 0),
      log_line(std::uint64_t{config.metrics.log_interval_s} * 1'000'000'000),
      stats_topic(std::uint64_t{config.metrics.stats_interval_s} * 1'000'000'000);
  std::uint64_t stats_sequence = 0;
  while (!g_stop_signal) {
    int timeout = static_cast<int>(config.capture.poll_interval_ms);
    int due = pipeline.ms_until_due(now_mono);
    if (due >= 0 && due < timeout) timeout = due;
    ring.poll(timeout);
    now_mono = monotonic_now_ns();
    // Interfaces deleted, re-created, down or up: re-attach per config; the
    // pipeline learns new ifindexes (and addresses) before their records.
    if (LinkChanges changes = links.poll(); !changes.empty()) {
      if (manager.apply(changes) || changes.addresses_changed) refresh_host(progs, pipeline, manager.table());
    }
    pipeline.tick(clock.to_wall_ns(now_mono), now_mono);
    prevention.poll(now_mono, realtime_now_ns());
    if (ping.due(now_mono)) sd_notify(0, "WATCHDOG=1");  // the drain loop is alive
    if (g_reload_signal) {
      g_reload_signal = 0;
      reload(config, options, progs, manager, pipeline, ring, prevention);
    }
    if (resync.due(now_mono)) {
      clock.resync();
      pipeline.set_kernel_clock_offset(clock.offset_ns());
    }
    const bool want_log = log_line.due(now_mono), want_stats = stats_topic.due(now_mono);
    if (refresh.due(now_mono) || want_log || want_stats) {
      nlohmann::json r = report();
      if (metrics) metrics->update(prometheus_text(r));
      std::string line = summary_line(r);
      sd_notifyf(0, "STATUS=%s", line.c_str());
      if (want_log) spdlog::info("{}", line);
      if (want_stats) {
        v1::StatsReport stats;
        stats.set_sensor_id(config.sensor_id);
        stats.set_sequence(++stats_sequence);
        stats.set_sensor_start_ns(start_wall_ns);
        stats.set_timestamp_ns(realtime_now_ns());
        stats.set_report_json(r.dump());
        pipeline.publish_stats(stats.SerializeAsString());
      }
    }
  }
  spdlog::info("signal {} received: detaching", static_cast<int>(g_stop_signal));
  sd_notify(0, "STOPPING=1");

  // Detach first, so that nothing arrives after the final drain and the
  // counters below are complete.
  manager.detach_attachments();
  ring.consume();
  pipeline.finish(v1::FLOW_END_SHUTDOWN);
  nlohmann::json final_report = report();
  manager.detach_all();
  if (config.keep_pins) progs.keep_pins();
  else progs.unpin_maps();
  write_stdout(final_report.dump() + "\n");
  spdlog::info("stopped; final {}", summary_line(final_report));
  return 0;
}

}  // namespace sniffer
