#include "sniffer/worker.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

// Receive queues of an interface (sysfs); 1 when they cannot be counted.
std::uint32_t receive_queues(const std::string& interface) {
  std::error_code error;
  std::uint32_t queues = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net/" + interface + "/queues", error)) {
    if (entry.path().filename().string().rfind("rx-", 0) == 0) ++queues;
  }
  return std::max(queues, 1u);
}

}  // namespace

std::uint32_t resolve_workers(const Config& config, bool live) {
  if (!live) return 1;  // a replay runs its frames one after the other
  if (config.capture.workers != 0) return config.capture.workers;
  std::uint32_t queues = 1;
  for (const InterfaceConfig& i : config.interfaces) queues = std::max(queues, receive_queues(i.name));
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return std::min({queues, static_cast<std::uint32_t>(std::max(cpus, 1L)), kAutoWorkersMax});
}

Worker::Worker(std::uint32_t index, int ring_fd, std::uint32_t payload_bytes, std::unique_ptr<FlowMap> flow_map,
               std::unique_ptr<Pipeline> pipeline, bool live)
    : index_(index),
      live_(live),
      flow_map_(std::move(flow_map)),
      pipeline_(std::move(pipeline)),
      ring_(
          ring_fd, payload_bytes, [this](const DecodedRecord& r) { handle(r); },
          [this](const sniffer_flow_record& r) { pipeline_->process_flow(r); },
          [this](const sniffer_drop_record& r) { pipeline_->process_drop(r); }),
      now_mono_ns_(monotonic_now_ns()) {
  ring_.set_peek([this](const void* data, std::size_t size) { pipeline_->prefetch(data, size); });
  if (live_) ring_.set_group_handler([this](const DecodedRecord* const* r, std::size_t n) { handle_group(r, n); });
}

Worker::~Worker() { stop(); }

void Worker::handle(const DecodedRecord& record) {
  if (live_) {
    pipeline_->process(record, clock_.to_wall_ns(record.header.ts_mono_ns), now_mono_ns_);
    return;
  }
  DecodedRecord rec = record;
  rec.header.wire_len = replay_wire_len_;  // the original length, even when the capture cut the packet
  pipeline_->process(rec, replay_ts_ns_, now_mono_ns_);
}

static_assert(RingReader::kGroup == RecordProcessor::kGroup);

void Worker::handle_group(const DecodedRecord* const* records, std::size_t n) {
  std::uint64_t ts[RingReader::kGroup];
  for (std::size_t i = 0; i < n; ++i) ts[i] = clock_.to_wall_ns(records[i]->header.ts_mono_ns);
  pipeline_->process_group(records, ts, n, now_mono_ns_);
}

void Worker::poll(int max_timeout_ms) {
  int timeout = max_timeout_ms;
  {
    std::lock_guard lock(mutex_);
    const int due = pipeline_->ms_until_due(now_mono_ns_);
    if (due >= 0 && due < timeout) timeout = due;
  }
  ring_.wait(timeout);  // not under the lock: the main thread may read the counters meanwhile
  std::lock_guard lock(mutex_);
  now_mono_ns_ = monotonic_now_ns();
  // The peek only pays for a table past the caches: below that, no call per record.
  ring_.set_peek_active(pipeline_->prefetch_pays());
  ring_.consume();  // records submitted with BPF_RB_NO_WAKEUP too
  pipeline_->tick(clock_.to_wall_ns(now_mono_ns_), now_mono_ns_);
  last_turn_ns_.store(now_mono_ns_, std::memory_order_relaxed);
}

void Worker::start(int poll_interval_ms) {
  // The thread inherits this mask: SIGINT, SIGTERM and SIGHUP then reach
  // the main thread, whose wait they interrupt.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  thread_ = std::thread([this, poll_interval_ms] { run(poll_interval_ms); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  const std::string name = "sniffer-w" + std::to_string(index_);  // as top -H and ps -L show it
  pthread_setname_np(thread_.native_handle(), name.c_str());
}

void Worker::run(int poll_interval_ms) {
  try {
    while (!stopping_.load(std::memory_order_relaxed)) poll(poll_interval_ms);
  } catch (...) {
    std::lock_guard lock(mutex_);
    failure_ = std::current_exception();
  }
}

void Worker::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

void Worker::rethrow_failure() {
  std::lock_guard lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void Worker::drain() {
  std::lock_guard lock(mutex_);
  ring_.consume();
}

void Worker::set_clock(const MonotonicToWall& clock) {
  std::lock_guard lock(mutex_);
  clock_ = clock;
  pipeline_->set_kernel_clock_offset(clock.offset_ns());
}

void Worker::set_interfaces(const InterfaceTable& interfaces, const HostAddresses& host) {
  std::lock_guard lock(mutex_);
  pipeline_->set_interfaces(interfaces, host);
}

void Worker::finish(v1::FlowEndReason reason) {
  std::lock_guard lock(mutex_);
  pipeline_->finish(reason);
}

WorkerSnapshot Worker::snapshot() {
  std::lock_guard lock(mutex_);
  return {ring_.counters(), pipeline_->counters()};
}

void Worker::replay_record(const void* data, std::size_t size) {
  DecodedRecord* record = ring_.decode(data, size);
  if (!record) return;
  record->header.wire_len = replay_wire_len_;  // as handle() does
  pipeline_->process(*record, replay_ts_ns_, now_mono_ns_);
}

void Worker::set_replay_packet(std::uint64_t ts_ns, std::uint32_t wire_len, std::uint64_t now_mono_ns) {
  replay_ts_ns_ = ts_ns;
  replay_wire_len_ = wire_len;
  now_mono_ns_ = now_mono_ns;
}

}  // namespace sniffer
