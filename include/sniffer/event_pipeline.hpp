// The user half of the data path: ring buffer -> decode -> PacketEvent ->
// batch -> ZeroMQ. One thread, driven by epoll on the ring buffer.
#pragma once

#include <bpf/libbpf.h>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/stats.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

class EventPipeline {
 public:
  EventPipeline(int events_map_fd, std::uint32_t payload_bytes, const InterfaceTable& interfaces,
                Publisher& publisher);
  ~EventPipeline();
  EventPipeline(const EventPipeline&) = delete;
  EventPipeline& operator=(const EventPipeline&) = delete;

  // Waits up to timeout_ms for the ring (epoll), handles every record
  // available, and sends the batch if it is due. Returns false when
  // interrupted by a signal.
  bool run_once(int timeout_ms);
  // Handles everything left in the ring and sends the pending batch.
  void drain_and_flush();

  const DrainCounters& counters() const { return counters_; }
  MonotonicToWall& clock() { return clock_; }

 private:
  static int on_sample(void* ctx, void* data, std::size_t size);
  void handle(const void* data, std::size_t size);

  ring_buffer* ring_ = nullptr;
  std::uint32_t payload_bytes_;
  const InterfaceTable& interfaces_;
  Publisher& publisher_;
  MonotonicToWall clock_;
  DrainCounters counters_;
  DecodedRecord scratch_;
};

}  // namespace sniffer
