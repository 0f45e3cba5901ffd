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
#include "sniffer/interfaces.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/pipeline.hpp"
#include "sniffer/ring_reader.hpp"
#include "sniffer/stats.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

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

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

InterfaceTable resolve_interfaces(const Config& config) {
  InterfaceTable table;
  for (std::size_t i = 0; i < config.interfaces.size(); ++i) {
    const auto& iface = config.interfaces[i];
    std::uint32_t ifindex = resolve_ifindex(iface.name, "interfaces[" + std::to_string(i) + "].name");
    table[ifindex] = InterfaceInfo{iface.name, ifindex, iface.role, iface.mode, static_cast<std::uint8_t>(i + 1)};
  }
  return table;
}

std::vector<std::unique_ptr<Attachment>> attach_all(const Config& config, const InterfaceTable& table,
                                                    const BpfPrograms& progs) {
  std::vector<std::unique_ptr<Attachment>> attached;
  for (const auto& iface : config.interfaces) {
    std::uint32_t ifindex = 0;
    for (const auto& [idx, info] : table) {
      if (info.name == iface.name) ifindex = idx;
    }
    for (Hook hook : iface.hooks) {
      std::unique_ptr<Attachment> a;
      switch (hook) {
        case Hook::XdpIngress: a = attach_xdp(progs.xdp_prog_fd(), ifindex, iface.name, iface.xdp_mode); break;
        case Hook::TcIngress:
          a = attach_tc(progs.tc_ingress_prog_fd(), ifindex, iface.name, true, config.capture.tc_attach);
          break;
        case Hook::TcEgress:
          a = attach_tc(progs.tc_egress_prog_fd(), ifindex, iface.name, false, config.capture.tc_attach);
          break;
      }
      spdlog::info("{} (ifindex {}, {}, {}): attached {}", iface.name, ifindex, to_string(iface.role),
                   to_string(iface.mode), a->describe());
      attached.push_back(std::move(a));
    }
  }
  spdlog::info("xdp: attached through the kernel's bpf_link, one program per interface; libxdp's multi-program "
               "dispatcher is not used");
  return attached;
}

}  // namespace

LoadOptions load_options(const Config& config) {
  LoadOptions load;
  load.ring_buffer_bytes = config.capture.ring_buffer_bytes;
  load.payload_bytes = config.capture.payload_bytes;
  load.wakeup_bytes = config.capture.wakeup_bytes;
  load.btf_path = config.btf_path;
  return load;
}

void fill_maps(BpfPrograms& progs, const Config& config, const InterfaceTable& interfaces) {
  for (const auto& [ifindex, info] : interfaces) progs.set_interface(ifindex, info.mode, info.role, info.stats_slot);
  progs.set_filter(config.filter);
}

int run_daemon(const Config& config, const RunOptions& options) {
  const std::uint64_t start_wall_ns = realtime_now_ns();
  InterfaceTable interfaces = resolve_interfaces(config);

  BpfPrograms progs(load_options(config));
  spdlog::info("BPF programs loaded (ABI {}, ring buffer {} bytes, payload snippet {} bytes)", SNIFFER_ABI_VERSION,
               config.capture.ring_buffer_bytes, config.capture.payload_bytes);
  fill_maps(progs, config, interfaces);

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
  Pipeline pipeline(config, interfaces, host, PipelineOutputs{.publish = true}, start_wall_ns);
  MonotonicToWall clock;
  std::uint64_t now_mono = monotonic_now_ns();
  RingReader ring(progs.events_map_fd(), config.capture.payload_bytes, [&](const DecodedRecord& r) {
    pipeline.process(r, clock.to_wall_ns(r.header.ts_mono_ns), now_mono);
  });
  std::optional<MetricsServer> metrics;
  if (!config.metrics.listen.empty()) metrics.emplace(config.metrics.listen);

  // The counters of every stage, as the final report, the metrics and the
  // "stats" topic show them.
  auto report = [&] {
    nlohmann::json kernel = kernel_stats_json(progs.read_counters(), interfaces);
    kernel["ring_size_bytes"] = config.capture.ring_buffer_bytes;
    nlohmann::json user = drain_stats_json(ring.counters());
    user.update(pipeline.counters_json());
    return nlohmann::json{{"kernel", kernel}, {"userspace", user}};
  };

  install_signal_handlers();
  auto attached = attach_all(config, interfaces, progs);
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
    pipeline.tick(clock.to_wall_ns(now_mono), now_mono);
    if (ping.due(now_mono)) sd_notify(0, "WATCHDOG=1");  // the drain loop is alive
    if (resync.due(now_mono)) clock.resync();
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
  attached.clear();
  ring.consume();
  pipeline.finish(v1::FLOW_END_SHUTDOWN);
  nlohmann::json final_report = report();
  for (const auto& [ifindex, info] : interfaces) progs.remove_interface(ifindex);
  std::cout << final_report.dump() << std::endl;
  spdlog::info("stopped; final {}", summary_line(final_report));
  return 0;
}

}  // namespace sniffer
