#include "sniffer/daemon.hpp"

#include <systemd/sd-daemon.h>

#include <csignal>
#include <iostream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/interfaces.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/sensor.hpp"
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

// From the start: a SIGHUP while the programs load is a reload once the loop
// runs (its default action killed the daemon); SIGUSR1/2 are not used, and a
// log pipe that closes (`2>&1 | head`) is no reason to stop watching.
void install_early_signal_handlers() {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_reload_signal;
  sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGUSR2, &sa, nullptr);
  sigaction(SIGPIPE, &sa, nullptr);
}

// Once attached: SIGINT and SIGTERM detach and report (before, their default
// action ends a start that has attached nothing).
void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// SIGHUP: re-read the config and apply what can change without reloading the
// programs. An invalid config is rejected and the running one stays.
void reload(Sensor& sensor, const RunOptions& options) {
  if (!options.reload) {
    spdlog::warn("SIGHUP: no config file to re-read (started with --interface only)");
    return;
  }
  sd_notify(0, "RELOADING=1");
  try {
    sensor.apply(options.reload());
    spdlog::info("reload: applied ({} interfaces)", sensor.interfaces().size());
  } catch (const ConfigInvalid& e) {
    spdlog::error("reload rejected, the running configuration stays: {}", e.what());
  } catch (const InterfaceUnavailable& e) {
    spdlog::error("reload rejected, the running configuration stays: {}", e.what());
  } catch (const HooksMissing& e) {
    if (e.modes_kept_only()) {
      spdlog::warn("reload applied, but an xdp_mode change did not take (the previous mode stays attached; the next "
                   "SIGHUP tries again): {}",
                   e.what());
    } else {
      spdlog::error("reload applied, but hooks are missing (sniffer_interface_hooks_missing; tried again after 1, 2, "
                    "4 ... 30 s and at each SIGHUP): {}",
                    e.what());
    }
  } catch (const std::exception& e) {
    spdlog::error("reload failed part way: {}; interfaces now monitored: {}", e.what(), sensor.interfaces().size());
  }
  sd_notify(0, "READY=1");
}

}  // namespace

int run_daemon(const Config& config, const RunOptions& options) {
  install_early_signal_handlers();
  Sensor sensor(config, SensorOptions{.source = PacketSource::Interfaces, .dry_run = options.dry_run});
  if (options.dry_run) {
    std::cout << sensor.dry_run_report().dump() << std::endl;
    spdlog::info("dry run: programs verified and maps filled; nothing attached");
    return 0;
  }

  install_signal_handlers();
  sensor.attach();
  // An endpoint the sensor runs without (a squatter...) is said to be so.
  const char* const later = " once it can be bound (see above)";
  spdlog::info("publishing on {}{} (packet events {}, flow records {}), sensor id \"{}\"{}", config.publish.endpoint,
               sensor.publishing() ? "" : later, config.publish.packet_events ? "on" : "off",
               config.flows.enabled ? "on" : "off", config.sensor_id,
               config.metrics.listen.empty()
                   ? std::string()
                   : ", metrics on http://" + config.metrics.listen + "/metrics" + (sensor.serving_metrics() ? "" : later));
  sd_notifyf(0, "READY=1\nSTATUS=capturing on %zu interface(s)", sensor.interfaces().size());

  std::uint64_t watchdog_usec = 0;
  const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  Every resync(60'000'000'000), refresh(1'000'000'000), ping(watchdog ? watchdog_usec * 500 : 0),
      log_line(std::uint64_t{config.metrics.log_interval_s} * 1'000'000'000),
      stats_topic(std::uint64_t{config.metrics.stats_interval_s} * 1'000'000'000);
  while (!g_stop_signal) {
    sensor.poll();
    const std::uint64_t now_mono = monotonic_now_ns();
    // The drain loop is alive: this loop, and every worker's within half the watchdog's time.
    if (ping.due(now_mono) && sensor.workers_alive(now_mono, watchdog_usec * 500)) sd_notify(0, "WATCHDOG=1");
    if (g_reload_signal) {
      g_reload_signal = 0;
      reload(sensor, options);
    }
    if (resync.due(now_mono)) sensor.resync_clock();
    const bool want_log = log_line.due(now_mono), want_stats = stats_topic.due(now_mono);
    if (refresh.due(now_mono) || want_log || want_stats) {
      sensor.resync_clock_if_stepped();
      const Report report = sensor.report();
      sensor.update_metrics(report);
      const std::string line = summary_line(report);
      sd_notifyf(0, "STATUS=%s", line.c_str());
      if (want_log) spdlog::info("{}", line);
      if (want_stats) sensor.publish_stats(report);
    }
  }
  spdlog::info("signal {} received: detaching", static_cast<int>(g_stop_signal));
  sd_notify(0, "STOPPING=1");
  const Report final_report = sensor.stop(v1::FLOW_END_SHUTDOWN);
  write_stdout(final_report.to_json().dump() + "\n");
  spdlog::info("stopped; final {}", summary_line(final_report));
  return 0;
}

}  // namespace sniffer
