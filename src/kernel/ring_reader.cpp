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
  auto* self = static_cast<RingReader*>(ctx);
  if (self->flow_handler_ && record_magic(data, size) == SNIFFER_FLOW_RECORD_MAGIC) {
    self->counters_.flow_records_received++;
    DecodeStatus status = decode_flow_record(data, size, self->flow_scratch_);
    if (status != DecodeStatus::Ok) {
      self->counters_.decode_errors[static_cast<int>(status)]++;
      return 0;
    }
    self->flow_handler_(self->flow_scratch_);
    return 0;
  }
  self->counters_.records_received++;
  DecodeStatus status = decode_record(data, size, self->payload_bytes_, self->scratch_);
  if (status != DecodeStatus::Ok) {
    self->counters_.decode_errors[static_cast<int>(status)]++;
    return 0;
  }
  self->handler_(self->scratch_);
  return 0;
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
