// A run of the sensor, assembled from a Config: the single-instance lock, the
// BPF programs and their pins, the interfaces they watch, the ZeroMQ runtime,
// the workers (capture.workers: each a ring reader and a pipeline of events,
// flows and batches), the publish socket, the metrics endpoint and
// prevention. The live daemon and the offline replay build the
// same Sensor; they differ in the packet source: attached interfaces (live),
// or a capture file run through the loaded XDP program (replay).
//
// apply(config) serves start and reload: the constructor calls it for the
// parts a reload may change (interfaces, roles, modes, hooks, filter, log
// level, blocklist); the rest is fixed until a restart.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/flow_labels.hpp"
#include "sniffer/instance_lock.hpp"
#include "sniffer/interface_manager.hpp"
#include "sniffer/kernel_drops.hpp"
#include "sniffer/link_monitor.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/pipeline.hpp"
#include "sniffer/captures.hpp"
#include "sniffer/prevention.hpp"
#include "sniffer/report.hpp"
#include "sniffer/user_engine.hpp"
#include "sniffer/wall_clock.hpp"
#include "sniffer/worker.hpp"
#include "sniffer/zmq_runtime.hpp"

namespace sniffer {

enum class PacketSource {
  Interfaces,  // live: the programs attached to the configured interfaces
  Replay,      // offline: frames run through the XDP program
};

// Replay: what runs the XDP program on a frame.
enum class ReplayEngine {
  Kernel,  // the loaded program, one BPF_PROG_TEST_RUN per frame
  User,    // the same program compiled as C, in-process (user_engine.hpp)
};

struct SensorOptions {
  PacketSource source = PacketSource::Interfaces;
  // Live: load, verify and fill the maps, then stop there (no lock, pins,
  // outputs or hooks).
  bool dry_run = false;
  // Replay: the interface the capture is attributed to, and the outputs.
  InterfaceConfig replay_interface;
  ReplayEngine replay_engine = ReplayEngine::Kernel;
  std::uint64_t first_flow_id = 1;  // replay: the first flow id, either aggregation (-j workers)
  bool publish = true;   // bind publish.endpoint
  std::string csv_path;  // non-empty: write flow records to this CSV file
  bool csv_uncached = false;  // it bypasses the page cache past its first 8 MiB (OutputFile::bypass_page_cache)
  std::shared_ptr<const FlowLabels> labels;  // --labels: label every flow record
};

// What became of one replayed frame.
enum class ReplayVerdict {
  Run,       // run through the program
  TooShort,  // shorter than an Ethernet header: the kernel refuses it
  Rejected,  // BPF_PROG_TEST_RUN refused it, or the user engine would have (error: a negative errno)
};
struct ReplayResult {
  ReplayVerdict verdict;
  int error;
};


class Sensor {
 public:
  // Throws Error, ConfigInvalid or InterfaceUnavailable; whatever was built
  // before the failure (pins, sockets, the lock) is undone.
  Sensor(const Config& config, const SensorOptions& options);
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  // Reload (live): checks `next` first (a missing interface or a refused
  // static block rejects it all, throwing and changing nothing), warns of
  // the keys that only a restart applies, then applies the rest.
  void apply(const Config& next);

  // Live: attaches the configured hooks (after the constructor: every output
  // is ready before the first packet arrives), and starts the workers'
  // threads when there are several.
  void attach();
  // Live, one turn of the main loop. With one worker: waits for records at
  // most until the next batch is due or capture.poll_interval_ms, handles
  // them, idle flows and batches; with several (each on its thread), waits
  // capture.poll_interval_ms and rethrows a worker's failure. Then link
  // changes and control commands.
  void poll();
  // Re-measures the kernel's monotonic clock against the wall clock.
  void resync_clock();
  // resync_clock() when the wall clock moved by more than kClockStepNs since.
  void resync_clock_if_stepped();
  static constexpr std::int64_t kClockStepNs = 2'000'000;
  // Whether every worker took a turn within the last `within_ns` (the
  // watchdog's ping says the data path is alive, not only the main loop).
  bool workers_alive(std::uint64_t now_mono_ns, std::uint64_t within_ns) const;

  // Replay: runs one captured frame through the program at its capture time
  // and original length, and handles what it produced.
  ReplayResult replay(const std::uint8_t* data, std::uint32_t caplen, std::uint64_t ts_ns, std::uint32_t wire_len);
  // Replay, publishing: waits until every enabled stream has a subscriber,
  // at most `seconds`; false if one still has none.
  bool wait_for_subscribers(double seconds);

  // Every stage's counters (to_json(): {"kernel": {...}, "userspace": {...}}).
  Report report() const;
  // Dry run: {"dry_run": "ok", "interfaces": n, "kernel": {...}}.
  nlohmann::json dry_run_report() const;
  // Publishes a report on the "stats" topic, and serves it as metrics.
  void publish_stats(const Report& report);
  void update_metrics(const Report& report);

  // Live: detaches the hooks, drains the ring, ends every flow with `reason`
  // and returns the final report; then removes every hook and (unless
  // keep_pins) the pins. Replay: drains and ends the flows the same way.
  Report stop(v1::FlowEndReason reason);

  const InterfaceTable& interfaces() const;
  // Whether the publish socket is bound (a port another user holds is bound later: EndpointBind).
  bool publishing() const { return publish_ && !publish_->endpoint().empty(); }
  bool serving_metrics() const { return metrics_ && metrics_->serving(); }

 private:
  bool is_live() const { return options_.source == PacketSource::Interfaces; }
  void open_outputs();
  HostAddresses learn_host_addresses();
  void refresh_host();
  std::unique_ptr<Worker> make_worker(std::uint32_t index, std::uint32_t count, const HostAddresses& host);
  bool threaded() const { return workers_.size() > 1; }
  void log_kernel_flows() const;
  KernelCounters program_counters() const;  // the kernel's, or the user engine's
  std::uint64_t flows_created() const;      // by the programs, the kernel's or the user engine's

  Config config_;
  const SensorOptions options_;
  const std::uint64_t start_wall_ns_;
  std::optional<InstanceLock> lock_;  // before the programs: their pins go before the lock does
  DropReasons drop_reasons_;          // before the programs: their load options name the ignored reasons
  BpfPrograms progs_;
  std::optional<LinkMonitor> links_;  // live: opened before the interfaces are resolved
  std::optional<InterfaceManager> manager_;  // live
  InterfaceTable replay_interfaces_;         // replay: the capture's one interface
  bool applied_ = false;
  ZmqRuntime zmq_;  // before every socket: outlives them
  std::optional<PublishSocket> publish_;  // the workers' streams and the stats topic share it
  // Before the workers: under kernel flow aggregation the flows are in its store.
  std::optional<UserEngine> user_engine_;  // replay with ReplayEngine::User; its records go to worker 0's reader
  MonotonicToWall clock_;
  std::uint64_t now_mono_ns_ = 0;
  std::uint64_t replay_frames_ = 0;  // frames replayed: without a publish socket the clock is read every kReplayClockEvery
  std::vector<std::unique_ptr<Worker>> workers_;  // capture.workers; offline one
  std::optional<MetricsServer> metrics_;
  std::optional<Captures> captures_;  // live; before prevention_, whose control socket starts them
  std::optional<Prevention> prevention_;
  std::optional<KernelDrops> drops_;  // live, with drops on and attached
  std::uint64_t stats_sequence_ = 0;
};

}  // namespace sniffer
