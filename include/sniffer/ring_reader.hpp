// Reads the "events" ring buffer: validates every record against the ABI
// (counting what it rejects) and hands the good ones to a handler: packet
// records to one, flow records (kernel flow aggregation) to the other.
#pragma once

#include <functional>

#include "sniffer/record.hpp"
#include "sniffer/stats.hpp"

struct ring_buffer;  // libbpf

namespace sniffer {

class RingReader {
 public:
  using Handler = std::function<void(const DecodedRecord&)>;
  using FlowHandler = std::function<void(const sniffer_flow_record&)>;
  using DropHandler = std::function<void(const sniffer_drop_record&)>;

  // Without a flow (drop) handler, a flow (drop) record counts as a decode error.
  RingReader(int events_map_fd, std::uint32_t payload_bytes, Handler handler, FlowHandler flow_handler = nullptr,
             DropHandler drop_handler = nullptr);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Waits up to timeout_ms for a wakeup, handling nothing (consume() then
  // does). False when a signal interrupted the wait.
  bool wait(int timeout_ms);
  // Handles every record available now, without waiting.
  void consume();
  // Handles one record (a ring sample); the user engine hands its records
  // here as it submits them.
  void handle(const void* data, std::size_t size);

  const DrainCounters& counters() const { return counters_; }

 private:
  static int on_sample(void* ctx, void* data, std::size_t size);

  ring_buffer* ring_ = nullptr;
  std::uint32_t payload_bytes_;
  Handler handler_;
  FlowHandler flow_handler_;
  DropHandler drop_handler_;
  DrainCounters counters_;
  DecodedRecord scratch_;
  sniffer_flow_record flow_scratch_{};
  sniffer_drop_record drop_scratch_{};
};

}  // namespace sniffer
