#include "sniffer/event_pipeline.hpp"

#include "sniffer/error.hpp"
#include "sniffer/event_codec.hpp"

namespace sniffer {

EventPipeline::EventPipeline(int events_map_fd, std::uint32_t payload_bytes, const InterfaceTable& interfaces,
                             Publisher& publisher)
    : payload_bytes_(payload_bytes), interfaces_(interfaces), publisher_(publisher) {
  ring_ = ring_buffer__new(events_map_fd, &EventPipeline::on_sample, this, nullptr);
  if (!ring_) throw Error("open the events ring buffer: " + errno_text(errno));
}

EventPipeline::~EventPipeline() { ring_buffer__free(ring_); }

int EventPipeline::on_sample(void* ctx, void* data, std::size_t size) {
  static_cast<EventPipeline*>(ctx)->handle(data, size);
  return 0;
}

void EventPipeline::handle(const void* data, std::size_t size) {
  counters_.records_received++;
  DecodeStatus status = decode_record(data, size, payload_bytes_, scratch_);
  if (status != DecodeStatus::Ok) {
    counters_.decode_errors[static_cast<int>(status)]++;
    return;
  }
  auto it = interfaces_.find(scratch_.header.ifindex);
  const InterfaceInfo* iface = it == interfaces_.end() ? nullptr : &it->second;
  if (!iface) counters_.unknown_ifindex++;
  record_to_event(scratch_, iface, clock_, *publisher_.add_event(monotonic_now_ns()));
}

bool EventPipeline::run_once(int timeout_ms) {
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n == -EINTR) return false;
  if (n < 0) throw Error("poll the events ring buffer: " + errno_text(n));
  // Records submitted without a wakeup (BPF_RB_NO_WAKEUP) are read here.
  n = ring_buffer__consume(ring_);
  if (n < 0 && n != -EINTR) throw Error("consume the events ring buffer: " + errno_text(n));
  publisher_.flush_if_due(monotonic_now_ns());
  return true;
}

void EventPipeline::drain_and_flush() {
  int n = ring_buffer__consume(ring_);
  if (n < 0) throw Error("consume the events ring buffer: " + errno_text(n));
  publisher_.flush();
}

}  // namespace sniffer
