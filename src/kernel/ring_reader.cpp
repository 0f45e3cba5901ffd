#include "sniffer/ring_reader.hpp"

#include <sys/epoll.h>

#include <cerrno>

#include <bpf/libbpf.h>

#include "sniffer/error.hpp"

namespace sniffer {

RingReader::RingReader(int events_map_fd, std::uint32_t payload_bytes, Handler handler, FlowHandler flow_handler,
                       DropHandler drop_handler)
    : payload_bytes_(payload_bytes),
      handler_(std::move(handler)),
      flow_handler_(std::move(flow_handler)),
      drop_handler_(std::move(drop_handler)) {
  ring_ = ring_buffer__new(events_map_fd, &RingReader::on_sample, this, nullptr);
  if (!ring_) throw Error("open the events ring buffer: " + errno_text(errno));
}

RingReader::~RingReader() { ring_buffer__free(ring_); }

int RingReader::on_sample(void* ctx, void* data, std::size_t size) {
  static_cast<RingReader*>(ctx)->handle(data, size);
  return 0;
}

namespace {

// A fixed-size record (flow, drop): handed on when it decoded, else counted.
template <typename Record, typename Handler>
void hand_on(DecodeStatus status, const Record& record, const Handler& handler, DrainCounters& counters) {
  if (status != DecodeStatus::Ok) {
    counters.decode_errors[static_cast<int>(status)]++;
    return;
  }
  handler(record);
}

}  // namespace

void RingReader::handle(const void* data, std::size_t size) {
  const std::uint32_t magic = record_magic(data, size);
  if (flow_handler_ && magic == SNIFFER_FLOW_RECORD_MAGIC) {
    counters_.flow_records_received++;
    hand_on(decode_flow_record(data, size, flow_scratch_), flow_scratch_, flow_handler_, counters_);
    return;
  }
  if (drop_handler_ && magic == SNIFFER_DROP_RECORD_MAGIC) {
    counters_.drop_records_received++;
    hand_on(decode_drop_record(data, size, drop_scratch_), drop_scratch_, drop_handler_, counters_);
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

bool RingReader::wait(int timeout_ms) {
  epoll_event event{};
  const int n = epoll_wait(ring_buffer__epoll_fd(ring_), &event, 1, timeout_ms);
  if (n < 0 && errno == EINTR) return false;
  if (n < 0) throw Error("wait for the events ring buffer: " + errno_text(errno));
  return true;
}

void RingReader::consume() {
  int n = ring_buffer__consume(ring_);
  if (n < 0 && n != -EINTR) throw Error("consume the events ring buffer: " + errno_text(n));
}

}  // namespace sniffer
