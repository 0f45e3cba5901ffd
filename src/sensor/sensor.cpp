#include "sniffer/sensor.hpp"

#include <nlohmann/json.hpp>
#include <poll.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "sniffer/control_server.hpp"  // kZapDomainControl
#include "sniffer/host_addresses.hpp"
#include "sniffer/load_options.hpp"

namespace sniffer {

namespace {

// BPF_PROG_TEST_RUN delivers frames on the loopback device of the calling
// network namespace, which always has this ifindex.
constexpr std::uint32_t kLoopbackIfindex = 1;

// A replay without a publish socket reads the monotonic clock once per this
// many frames.
constexpr std::uint64_t kReplayClockEvery = 1024;

// Live, before anything is loaded: every configured interface exists, and no
// other sensor holds this pin path (a second sensor stops here and changes
// nothing shared: pins, socket files, ports, hooks).
std::optional<InstanceLock> claim(const Config& config, const SensorOptions& options) {
  if (options.source != PacketSource::Interfaces) return std::nullopt;
  for (std::size_t i = 0; i < config.interfaces.size(); ++i) {
    resolve_ifindex(config.interfaces[i].name, "interfaces[" + std::to_string(i) + "].name");
  }
  if (config.pin_path.empty() || options.dry_run) return std::nullopt;
  return std::optional<InstanceLock>(std::in_place, config.pin_path);
}

// Keys a reload cannot apply to running programs and sockets.
void warn_restart_only_changes(const Config& running, const Config& next) {
  nlohmann::json a = config_to_json(running), b = config_to_json(next);
  for (const char* key :
       {"sensor_id", "capture", "flows", "publish", "metrics", "control", "btf_path", "pin_path", "drops"}) {
    if (a[key] != b[key]) {
      spdlog::warn("reload: \"{}\" changed: it takes effect at the next restart; the running value stays", key);
    }
  }
  if (running.blocklist.max_entries != next.blocklist.max_entries) {
    spdlog::warn("reload: \"blocklist.max_entries\" changed: it sizes the tries, so it takes effect at the next "
                 "restart; the running value stays");
  }
}

// SIGHUP re-reads the authorized-keys files of the running CURVE sockets
// (their paths are restart only), all of them before anything changes: a file
// that cannot be read or has a bad line rejects the reload, the keys stay.
std::vector<AuthorizedKeys> read_authorized_keys(const Config& running, bool publishing, bool control) {
  std::vector<AuthorizedKeys> lists;
  if (publishing && running.publish.curve) {
    lists.push_back({kZapDomainPublish, running.publish.curve->authorized_keys_file, {}});
  }
  if (control) lists.push_back({kZapDomainControl, running.control.curve.authorized_keys_file, {}});
  std::vector<ConfigError> errors;
  for (auto& list : lists) {
    try {
      list.keys = load_authorized_keys(list.file);
    } catch (const Error& e) {
      errors.push_back({list.domain + ".curve.authorized_keys_file", e.what()});
    }
  }
  if (!errors.empty()) throw ConfigInvalid(std::move(errors));
  return lists;
}

// The user engine runs the programs' C source itself: the kernel then holds
// their maps only, and the verifier does not run (most of a short run's time).
// Kernel drop reasons: live only (a replay's packets are never freed by the
// kernel's stack).
LoadOptions program_load_options(const Config& config, const SensorOptions& options, const DropReasons& reasons) {
  LoadOptions load = load_options(config);
  load.workers = resolve_workers(config, options.source == PacketSource::Interfaces);
  load.load_programs = options.source == PacketSource::Interfaces || options.replay_engine == ReplayEngine::Kernel;
  if (options.source == PacketSource::Interfaces) set_drop_options(config.drops, reasons, load);
  // Per flow: the userspace table counts the drop records; kernel flows do not.
  load.drops_records = load.drops && config.flows.enabled;
  return load;
}

DropReasons drop_reasons(const Config& config, const SensorOptions& options) {
  const bool wanted = config.drops.enabled && options.source == PacketSource::Interfaces;
  return wanted ? DropReasons::from_kernel(config.btf_path) : DropReasons(std::map<std::uint32_t, std::string>{});
}

}  // namespace

Sensor::Sensor(const Config& config, const SensorOptions& options)
    : config_(config),
      options_(options),
      start_wall_ns_(realtime_now_ns()),
      lock_(claim(config, options)),
      drop_reasons_(drop_reasons(config, options)),
      progs_(program_load_options(config, options, drop_reasons_)) {  // after the lock: its pins are removed before the lock is released
  if (lock_ && !lock_->warning().empty()) spdlog::warn("{}", lock_->warning());  // a squatter's leftover, say
  if (is_live()) {  // offline, stderr stays for errors
    spdlog::info("BPF programs loaded (ABI {}, ring buffer {} bytes, payload snippet {} bytes)", SNIFFER_ABI_VERSION,
                 config_.capture.ring_buffer_bytes, config_.capture.payload_bytes);
    log_kernel_flows();
    if (!config_.pin_path.empty() && !options_.dry_run) {
      progs_.pin_maps(config_.pin_path, lock_ ? lock_->locked_path() : "");
    }
    links_.emplace();  // before resolving the interfaces: no link event in between is missed
    manager_.emplace(progs_, config_.capture.tc_attach);
  } else {
    const InterfaceConfig& iface = options_.replay_interface;
    replay_interfaces_.emplace(kLoopbackIfindex, InterfaceInfo{iface.name, kLoopbackIfindex, iface.role, iface.mode,
                                                               /*stats_slot=*/1});
  }
  apply(config_);
  if (!options_.dry_run) open_outputs();
}

void Sensor::apply(const Config& next) {
  const bool reload = applied_;
  std::vector<AuthorizedKeys> keys;
  if (reload) {
    manager_->check(next.interfaces);  // before any change: a missing new interface rejects it all
    if (prevention_) prevention_->check(next.blocklist);  // likewise a static entry the guard refuses
    keys = read_authorized_keys(config_, publish_.has_value(), prevention_ && !config_.control.endpoint.empty());
    warn_restart_only_changes(config_, next);
    for (auto& worker : workers_) worker->drain();  // records read before the tables change keep their old context
  }
  if (manager_) {
    manager_->set_blocklist_roles(next.blocklist.roles);
    manager_->configure(next.interfaces);
  } else {
    for (const auto& [ifindex, info] : replay_interfaces_) {
      progs_.set_interface(ifindex, info.mode, info.role, info.stats_slot);
    }
  }
  progs_.set_filter(next.filter, record_ports(config_));  // flows.*: restart only
  applied_ = true;
  if (!reload) return;

  // Hooks that fail to attach leave the others attached: the rest of the new
  // configuration applies all the same (blocklist included), then the failure is told.
  std::optional<HooksMissing> missing;
  try {
    manager_->attach();
  } catch (const HooksMissing& e) {
    missing = e;
  }
  refresh_host();
  if (next.log_level != config_.log_level) spdlog::set_level(spdlog::level::from_str(next.log_level));
  config_.interfaces = next.interfaces;
  config_.filter = next.filter;
  config_.log_level = next.log_level;
  if (prevention_) prevention_->reload(next.blocklist);
  const std::uint32_t max_entries = config_.blocklist.max_entries;
  config_.blocklist = next.blocklist;
  config_.blocklist.max_entries = max_entries;  // sizes the tries: fixed until a restart
  for (auto& list : keys) {
    const bool publish = list.domain == kZapDomainPublish;
    if (zmq_.authenticator().replace(std::move(list)) > 0 && publish) {
      spdlog::warn("reload: subscriber key(s) removed: cut all {} subscriber connection(s) (CURVE checks keys at the "
                   "handshake only); subscribers reconnect and authenticate again",
                   publish_->cut_for_reauthentication());
    }
  }
  if (missing) throw *missing;
}

// The workers and what feeds them: built once the interfaces are known.
void Sensor::open_outputs() {
  const bool live = is_live();
  // Offline there are no host addresses: directions follow the interface's role.
  const HostAddresses host = live ? learn_host_addresses() : HostAddresses{};
  if (live || options_.publish) {
    allow_publish_subscribers(config_.publish, zmq_);
    publish_.emplace(zmq_.context(), config_.publish);
  }
  // The user engine first: under kernel flow aggregation the flows are in its store.
  if (!live && options_.replay_engine == ReplayEngine::User) {
    user_engine_.emplace(
        progs_, [this](const void* data, std::size_t size) { workers_[0]->replay_record(data, size); },
        options_.first_flow_id);
  } else if (!live) {
    progs_.set_first_flow_id(options_.first_flow_id);
  }
  const std::uint32_t count = progs_.options().workers;
  for (std::uint32_t i = 0; i < count; ++i) workers_.push_back(make_worker(i, count, host));
  // The engine's records built where the one worker decodes them: no copy.
  if (user_engine_) user_engine_->set_record_area(workers_[0]->ring().record_area());
  now_mono_ns_ = monotonic_now_ns();
  if (!live) return;
  if (!config_.metrics.listen.empty()) metrics_.emplace(config_.metrics.listen);
  captures_.emplace(progs_, config_.capture, interfaces(), clock_);
  prevention_.emplace(progs_, config_, zmq_, &*captures_);
}

// Worker `index` of `count`: its ring, its pipeline, and under kernel flow
// aggregation its shard of the programs' flow map.
std::unique_ptr<Worker> Sensor::make_worker(std::uint32_t index, std::uint32_t count, const HostAddresses& host) {
  const bool live = is_live();
  PipelineOutputs outputs{.socket = publish_ ? &*publish_ : nullptr,
                          .worker = index,
                          .workers = count,
                          .csv_path = options_.csv_path,
                          .csv_uncached = options_.csv_uncached,
                          .labels = options_.labels,
                          .first_flow_id = options_.first_flow_id};
  std::unique_ptr<FlowMap> flow_map;
  if (progs_.flow_kernel()) {
    outputs.kernel_flows_capacity = progs_.flow_max_entries();
    if (user_engine_) {
      outputs.kernel_flow_map = &user_engine_->flow_map();
    } else {
      flow_map = std::make_unique<KernelFlowMap>(progs_.flows_map_fd());
      if (count > 1) flow_map = std::make_unique<ShardFlowMap>(std::move(flow_map), index, count, progs_.worker_key());
      outputs.kernel_flow_map = flow_map.get();
    }
    if (!live) outputs.kernel_flows_started = [this] { return flows_created(); };
  }
  auto pipeline = std::make_unique<Pipeline>(config_, interfaces(), host, outputs, start_wall_ns_);
  auto worker = std::make_unique<Worker>(index, progs_.events_map_fd(index), config_.capture.payload_bytes,
                                         std::move(flow_map), std::move(pipeline), live);
  // Kernel flow aggregation: live flow times are CLOCK_MONOTONIC; a replay
  // runs on the capture's clock (set_replay_packet) and needs no offset.
  if (live) worker->set_clock(clock_);
  return worker;
}

// The host's addresses now, also given to the programs' local_addrs (kernel
// flow aggregation counts TC egress packets sent from them).
HostAddresses Sensor::learn_host_addresses() {
  HostAddresses host = HostAddresses::from_system(manager_->table());
  progs_.set_local_addresses(host.local_list());
  return host;
}

// The interfaces or the host's addresses changed: the pipeline and the
// programs learn them.
void Sensor::refresh_host() {
  const HostAddresses host = learn_host_addresses();
  for (auto& worker : workers_) worker->set_interfaces(manager_->table(), host);
}

void Sensor::attach() {
  manager_->attach();
  if (progs_.options().drops) drops_ = KernelDrops::attach(progs_, drop_reasons_);
  spdlog::info("xdp: attached through the kernel's bpf_link, one program per interface; libxdp's multi-program "
               "dispatcher is not used");
  if (!threaded()) return;
  for (auto& worker : workers_) worker->start(static_cast<int>(config_.capture.poll_interval_ms));
  spdlog::info("{} workers, each with its own ring, flow table shard and batches (capture.workers {})",
               workers_.size(), config_.capture.workers == 0 ? "auto" : std::to_string(config_.capture.workers));
}

void Sensor::poll() {
  const int interval = static_cast<int>(config_.capture.poll_interval_ms);
  if (!threaded()) {
    workers_[0]->poll(interval);
  } else {
    ::poll(nullptr, 0, interval);  // a signal ends it early
    for (auto& worker : workers_) worker->rethrow_failure();
  }
  now_mono_ns_ = monotonic_now_ns();
  // Interfaces deleted, re-created, down or up: re-attach per config; the
  // pipeline learns new ifindexes (and addresses) before their records.
  if (LinkChanges changes = links_->poll(); !changes.empty()) {
    if (manager_->apply(changes) || changes.addresses_changed) refresh_host();
  }
  manager_->verify(now_mono_ns_);
  prevention_->poll(now_mono_ns_, realtime_now_ns());
  captures_->poll(now_mono_ns_, realtime_now_ns());
  if (publish_) publish_->service();
}

void Sensor::resync_clock() {
  clock_.resync();
  for (auto& worker : workers_) worker->set_clock(clock_);
}

void Sensor::resync_clock_if_stepped() {
  // A step of the wall clock (settimeofday, a time daemon's makestep, a
  // virtual machine resumed and set right) would date every event wrong
  // until the next minute's resync: checked each second instead.
  const auto drift = static_cast<std::int64_t>(realtime_now_ns() - clock_.to_wall_ns(monotonic_now_ns()));
  if (drift > -kClockStepNs && drift < kClockStepNs) return;
  resync_clock();
  spdlog::info("the wall clock moved by {:+.3f} ms against the monotonic clock: event times follow it from now",
               static_cast<double>(drift) / 1e6);
}

bool Sensor::workers_alive(std::uint64_t now_mono_ns, std::uint64_t within_ns) const {
  if (!threaded()) return true;  // the main thread takes the one worker's turns
  return std::all_of(workers_.begin(), workers_.end(),
                     [&](const auto& w) { return now_mono_ns - w->last_turn_ns() <= within_ns; });
}

bool Sensor::wait_for_subscribers(double seconds) { return workers_[0]->pipeline().wait_for_subscribers(seconds); }

ReplayResult Sensor::replay(const std::uint8_t* data, std::uint32_t caplen, std::uint64_t ts_ns,
                            std::uint32_t wire_len) {
  Worker& worker = *workers_[0];  // offline: one, on this thread
  // The monotonic clock times the published batches and stamps the packet
  // events: read for every frame when publishing. A run that only writes a CSV
  // uses it nowhere in its output; it is read now and then, so that it stays
  // current (the read was 3-4 % of a run here).
  if (publish_ || replay_frames_++ % kReplayClockEvery == 0) now_mono_ns_ = monotonic_now_ns();
  worker.set_replay_packet(ts_ns, wire_len, now_mono_ns_);
  if (caplen < 14) return {ReplayVerdict::TooShort, 0};  // shorter than Ethernet: the kernel refuses it
  if (user_engine_) {
    if (int err = user_engine_->run(data, caplen, ts_ns, wire_len, now_mono_ns_); err != 0) {
      return {ReplayVerdict::Rejected, err};
    }
  } else {
    progs_.set_replay_packet(ts_ns, wire_len);
    if (int err = progs_.test_run_xdp(data, caplen); err != 0) return {ReplayVerdict::Rejected, err};
    worker.ring().consume();
  }
  worker.pipeline().tick(ts_ns, now_mono_ns_);
  return {ReplayVerdict::Run, 0};
}

Report Sensor::stop(v1::FlowEndReason reason) {
  // Detach first, so that nothing arrives after the final drain and the
  // counters of the report are complete.
  if (manager_) manager_->detach_attachments();
  for (auto& worker : workers_) {
    worker->stop();
    worker->drain();
  }
  if (captures_) captures_->stop_all(realtime_now_ns());
  for (auto& worker : workers_) worker->finish(reason);
  if (prevention_) prevention_->save_state_at_stop();
  Report final_report = report();
  if (manager_) manager_->detach_all();
  if (config_.keep_pins) progs_.keep_pins();
  else progs_.unpin_maps();
  return final_report;
}

const InterfaceTable& Sensor::interfaces() const { return manager_ ? manager_->table() : replay_interfaces_; }

void Sensor::log_kernel_flows() const {
  if (!progs_.flow_kernel()) return;
  const std::size_t ports = record_ports(config_).size();
  const FlowConfig& f = config_.flows;
  spdlog::info("flows aggregated in the kernel: map of {} flows ({} MiB preallocated); packet events: {}{}",
               progs_.flow_max_entries(), (std::uint64_t{progs_.flow_max_entries()} * sizeof(sniffer_flow_value)) >> 20,
               !config_.publish.packet_events ? std::string("off")
               : f.packet_sample_one_in == 0  ? std::string("none sampled (packet_sample_one_in 0)")
                                              : "1 in " + std::to_string(f.packet_sample_one_in),
               ports == 0 ? std::string()
                          : ", and every packet of " + std::to_string(ports) + " port(s) (flows.packet_ports)");
}

}  // namespace sniffer
