#include "sniffer/ring_reader.hpp"

#include <bpf/libbpf.h>

#include "sniffer/error.hpp"

namespace sniffer {

RingReader::RingReader(int events_map_fd, std::uint32_t payload_bytes, Handler handler, FlowHandler flow_handler)
    : payload_bytes_(payload_bytes), handler_(std::move(handler)), flow_handler_(std::move(flow_handler)) {
  ring_ = ring_buffer__new(events_map_fd, &RingReader::on_sample, this, nullptr);
  if (!ring_) throw Error("open the events ring buffer: " + errno_text(errno));
}

RingReader::~RingReader() { ring_buffer__free(ring_); }

int RingReader::on_sample(void* ctx, void* data, std::size_t size) {
  static_cast<RingReader*>(ctx)->handle(data, size);
  return 0;
}

void RingReader::handle(const void* data, std::size_t size) {
  if (flow_handler_ && record_magic(data, size) == SNIFFER_FLOW_RECORD_MAGIC) {
    counters_.flow_records_received++;
    DecodeStatus status = decode_flow_record(data, size, flow_scratch_);
    if (status != DecodeStatus::Ok) {
      counters_.decode_errors[static_cast<int>(status)]++;
      return;
    }
    flow_handler_(flow_scratch_);
    return;
  }
  counters_.records_received++;
  DecodeStatus status = decode_record(data, size, payload_bytes_, scratch_);
  if (status != DecodeStatus::Ok) {
    counters_.decode_errors[static_cast<int>(status)]++;
    return;
  }
  handler_(scratch_);
}

bool RingReader::poll(int timeout_ms) {
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n == -EINTR) return false;
  if (n < 0) throw Error("poll the events ring buffer: " + errno_text(n));
  consume();  // records submitted with BPF_RB_NO_WAKEUP
  return true;
}

void RingReader::consume() {
  int n = ring_buffer__consume(ring_);
  if (n < 0 && n != -EINTR) throw Error("consume the events ring buffer: " + errno_text(n));
}

}  // namespace sniffer
