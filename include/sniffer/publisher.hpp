// Batches PacketEvents and publishes them on a ZeroMQ XPUB socket.
// Message = [topic frame, EventBatch]. The capture thread never blocks:
// sends are non-blocking, and a batch refused at the high-water mark is
// counted as dropped (with all its events) and its sequence number is
// consumed, so subscribers see the gap.
#pragma once

#include <cstdint>
#include <string>

#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/config.hpp"

namespace sniffer {

inline constexpr const char* kTopicPackets = "pkt";

struct PublishCounters {
  std::uint64_t batches_sent = 0;
  std::uint64_t events_sent = 0;
  std::uint64_t batches_dropped_hwm = 0;
  std::uint64_t events_dropped_hwm = 0;
};

class Publisher {
 public:
  Publisher(zmq::context_t& ctx, const PublishConfig& config, const std::string& sensor_id,
            std::uint64_t sensor_start_ns);

  // A new event in the pending batch, to be filled by the caller. The batch
  // is sent once it holds batch_max_events (at the next add or flush).
  v1::PacketEvent* add_event(std::uint64_t now_mono_ns);
  // Sends the pending batch when it is full or older than the latency bound.
  void flush_if_due(std::uint64_t now_mono_ns);
  // Sends the pending batch now, if any.
  void flush();
  // Milliseconds until the pending batch is due (for poll timeouts), or -1.
  int ms_until_due(std::uint64_t now_mono_ns) const;

  const PublishCounters& counters() const { return counters_; }
  std::size_t pending_events() const { return static_cast<std::size_t>(batch_.events_size()); }

 private:
  void drain_subscriptions();

  zmq::socket_t socket_;
  PublishConfig config_;
  v1::EventBatch batch_;
  std::uint64_t batch_started_ns_ = 0;
  std::uint64_t sequence_ = 0;
  std::string buffer_;
  PublishCounters counters_;
};

}  // namespace sniffer
