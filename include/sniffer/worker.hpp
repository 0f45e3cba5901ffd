// One worker of the data path (capture.workers): its "events" ring (the
// flows sniffer/worker_shard.h gives it under the load's key), the reader of that ring, and its
// own Pipeline: packet events, its shard of the flow table, its batches.
// Workers share nothing but the publish socket (which locks) and the
// kernel's maps, so they never wait for each other.
//
// With one worker the main thread drives it (poll), as before workers
// existed; with more, each runs on its own thread (start), and the main
// thread reaches a worker's state only through the calls below, which take
// the worker's lock (held while it handles a turn's records, never while it
// waits for them).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "sniffer/config.hpp"
#include "sniffer/flow_map.hpp"
#include "sniffer/pipeline.hpp"
#include "sniffer/ring_reader.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

// capture.workers resolved: offline 1; 0 ("auto") is one per receive queue
// of the configured interfaces, at most one per online CPU and
// kAutoWorkersMax.
inline constexpr std::uint32_t kAutoWorkersMax = 8;
std::uint32_t resolve_workers(const Config& config, bool live);

// What one worker counted, under its lock.
struct WorkerSnapshot {
  DrainCounters ring;
  PipelineCounters pipeline;
};

class Worker {
 public:
  // flow_map: the shard of the kernel's flow map the pipeline sweeps (kernel
  // flow aggregation; else null), kept alive here. live: records carry
  // CLOCK_MONOTONIC stamps (set_clock); else a replay (set_replay_packet).
  Worker(std::uint32_t index, int ring_fd, std::uint32_t payload_bytes, std::unique_ptr<FlowMap> flow_map,
         std::unique_ptr<Pipeline> pipeline, bool live);
  ~Worker();  // stops the thread
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // One turn: waits for records at most until a batch is due or
  // max_timeout_ms, handles them, ends idle flows, sends due batches.
  void poll(int max_timeout_ms);
  // From now on a thread of its own takes the turns (signals stay with the
  // main thread); stop() ends it. A turn that throws ends the thread, and
  // rethrow_failure() rethrows it on the caller's.
  void start(int poll_interval_ms);
  void stop();
  void rethrow_failure();
  // CLOCK_MONOTONIC of the last turn's end (the watchdog's measure).
  std::uint64_t last_turn_ns() const { return last_turn_ns_.load(std::memory_order_relaxed); }

  // Under the worker's lock:
  void drain();  // handles every record the ring holds now
  void set_clock(const MonotonicToWall& clock);  // live: the sensor's, after each resync
  void set_interfaces(const InterfaceTable& interfaces, const HostAddresses& host);
  void finish(v1::FlowEndReason reason);  // after stop(): ends every flow, sends everything
  WorkerSnapshot snapshot();

  // Replay (one worker, no thread): the frame about to run, then its
  // records go through ring() to the pipeline; or, from the user engine,
  // through replay_record as it submits them: the ring's checks and counters,
  // then the pipeline, with no handler call or copy between.
  void set_replay_packet(std::uint64_t ts_ns, std::uint32_t wire_len, std::uint64_t now_mono_ns);
  void replay_record(const void* data, std::size_t size);
  RingReader& ring() { return ring_; }
  Pipeline& pipeline() { return *pipeline_; }

 private:
  void handle(const DecodedRecord& record);
  void handle_group(const DecodedRecord* const* records, std::size_t n);  // live: the ring's groups
  void run(int poll_interval_ms);

  const std::uint32_t index_;
  const bool live_;
  std::unique_ptr<FlowMap> flow_map_;   // before the pipeline, which sweeps it
  std::unique_ptr<Pipeline> pipeline_;  // before the ring, whose handlers feed it
  RingReader ring_;
  std::mutex mutex_;
  MonotonicToWall clock_;  // live: the records' stamps to wall time
  std::uint64_t now_mono_ns_ = 0;
  std::uint64_t replay_ts_ns_ = 0;  // replay: the frame being run
  std::uint32_t replay_wire_len_ = 0;
  std::atomic<std::uint64_t> last_turn_ns_{0};
  std::atomic<bool> stopping_{false};
  std::exception_ptr failure_;  // set by the thread before it ends
  std::thread thread_;
};

}  // namespace sniffer
