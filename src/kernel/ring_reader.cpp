#include "sniffer/ring_reader.hpp"

#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <bpf/bpf.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

void unmap(void* at, std::size_t size) {
  if (at && at != MAP_FAILED) munmap(at, size);
}

}  // namespace

RingReader::RingReader(int events_map_fd, std::uint32_t payload_bytes, Handler handler, FlowHandler flow_handler,
                       DropHandler drop_handler)
    : payload_bytes_(payload_bytes),
      handler_(std::move(handler)),
      flow_handler_(std::move(flow_handler)),
      drop_handler_(std::move(drop_handler)) {
  bpf_map_info info{};
  std::uint32_t info_len = sizeof info;
  if (bpf_obj_get_info_by_fd(events_map_fd, &info, &info_len) != 0) {
    throw Error("open the events ring buffer: " + errno_text(errno));
  }
  if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 || (info.max_entries & (info.max_entries - 1))) {
    throw Error("open the events ring buffer: not a ring buffer map");
  }
  page_size_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  data_size_ = info.max_entries;
  void* consumer = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, events_map_fd, 0);
  void* producer = consumer == MAP_FAILED ? MAP_FAILED
                                          : mmap(nullptr, page_size_ + 2 * data_size_, PROT_READ, MAP_SHARED,
                                                 events_map_fd, static_cast<off_t>(page_size_));
  epoll_fd_ = producer == MAP_FAILED ? -1 : epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  if (epoll_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, events_map_fd, &event) != 0) {
    const int err = errno;
    if (epoll_fd_ >= 0) close(epoll_fd_);
    unmap(producer, page_size_ + 2 * data_size_);
    unmap(consumer, page_size_);
    throw Error("open the events ring buffer: " + errno_text(err));
  }
  consumer_pos_ = static_cast<unsigned long*>(consumer);
  producer_pos_ = static_cast<unsigned long*>(producer);
  data_ = static_cast<const std::uint8_t*>(producer) + page_size_;
}

RingReader::~RingReader() {
  close(epoll_fd_);
  unmap(producer_pos_, page_size_ + 2 * data_size_);
  unmap(consumer_pos_, page_size_);
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

DecodedRecord* RingReader::decode(const void* data, std::size_t size) {
  const std::uint32_t magic = record_magic(data, size);
  if (flow_handler_ && magic == SNIFFER_FLOW_RECORD_MAGIC) {
    counters_.flow_records_received++;
    const sniffer_flow_record* record = nullptr;
    const DecodeStatus status = decode_flow_record(data, size, flow_scratch_, record);  // sets record first
    hand_on(status, *record, flow_handler_, counters_);
    return nullptr;
  }
  if (drop_handler_ && magic == SNIFFER_DROP_RECORD_MAGIC) {
    counters_.drop_records_received++;
    hand_on(decode_drop_record(data, size, drop_scratch_), drop_scratch_, drop_handler_, counters_);
    return nullptr;
  }
  return decode_packet(data, size, scratch_.record);
}

DecodedRecord* RingReader::decode_packet(const void* data, std::size_t size, DecodedRecord& into) {
  counters_.records_received++;
  const DecodeStatus status = decode_record(data, size, payload_bytes_, into);
  if (status != DecodeStatus::Ok) {
    counters_.decode_errors[static_cast<int>(status)]++;
    return nullptr;
  }
  return &into;
}

void RingReader::handle(const void* data, std::size_t size) {
  if (DecodedRecord* record = decode(data, size)) handler_(*record);
}

bool RingReader::wait(int timeout_ms) {
  epoll_event event{};
  const int n = epoll_wait(epoll_fd_, &event, 1, timeout_ms);
  if (n < 0 && errno == EINTR) return false;
  if (n < 0) throw Error("wait for the events ring buffer: " + errno_text(errno));
  return true;
}

namespace {

// A ring sample's 8-byte header: its length, with the busy and discard bits.
struct SampleHeader {
  std::uint32_t len;
  bool busy() const { return (len & BPF_RINGBUF_BUSY_BIT) != 0; }  // reserved, not committed yet
  bool discarded() const { return (len & BPF_RINGBUF_DISCARD_BIT) != 0; }
  std::uint32_t size() const { return len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT); }
  unsigned long span() const { return (size() + BPF_RINGBUF_HDR_SZ + 7) & ~7ul; }  // samples are 8-byte aligned
};

SampleHeader header_at(const std::uint8_t* sample) {
  return {__atomic_load_n(reinterpret_cast<const std::uint32_t*>(sample), __ATOMIC_ACQUIRE)};
}

}  // namespace

// As libbpf's ring_buffer__consume, but the consumer position is stored
// every sixteenth of the ring, whenever the reader has caught up, and on the
// way out (a handler's exception included), not after every sample; the
// samples' lines are fetched 2 KiB (4 KiB in groups) before they are handled, and the
// peek handler sees them kPeekAhead samples before.
void RingReader::consume() {
  constexpr unsigned long kLine = 64;
  // A group takes up to kGroup samples at once (16 of the lab's 144-byte
  // records: 2.3 KiB): fetched only 2 KiB past its start, its own samples
  // were requested just before it read them, and its last ones not at all.
  // 4 KiB: the next group's are on their way while this one is handled.
  const unsigned long mask = data_size_ - 1, release_every = data_size_ / 16;
  struct Position {
    unsigned long* shared;
    unsigned long at, released;
    void release() {
      if (at != released) __atomic_store_n(shared, at, __ATOMIC_RELEASE);
      released = at;
    }
    ~Position() { release(); }
  } cons{consumer_pos_, 0, 0};
  cons.at = cons.released = __atomic_load_n(consumer_pos_, __ATOMIC_ACQUIRE);
  unsigned long fetched = cons.at, peeked = cons.at;
  unsigned ahead = 0;  // samples peeked and not handled yet: those in [cons.at, peeked)
  const bool peeking = peek_ && peek_active_;
  const bool grouping = group_handler_ && !peeking;
  const unsigned long read_ahead = grouping ? 4096 : 2048;
  for (unsigned long prod; (prod = __atomic_load_n(producer_pos_, __ATOMIC_ACQUIRE)) != cons.at;) {
    while (cons.at < prod) {
      for (const unsigned long until = std::min(cons.at + read_ahead, prod); fetched < until; fetched += kLine) {
        __builtin_prefetch(data_ + (fetched & mask));
      }
      if (grouping) {
        if (!take_group(cons.at, prod)) return;  // the next consume() takes the busy sample
        if (cons.at - cons.released >= release_every) cons.release();
        continue;
      }
      for (; peeking && ahead < kPeekAhead && peeked < prod; ++ahead) {
        const std::uint8_t* sample = data_ + (peeked & mask);
        const SampleHeader h = header_at(sample);
        if (h.busy()) break;
        if (!h.discarded()) peek_(sample + BPF_RINGBUF_HDR_SZ, h.size());
        peeked += h.span();
      }
      const std::uint8_t* sample = data_ + (cons.at & mask);
      const SampleHeader h = header_at(sample);
      if (h.busy()) return;  // the next consume() takes it
      cons.at += h.span();  // before the handler: a throw skips the sample
      if (!h.discarded()) handle(sample + BPF_RINGBUF_HDR_SZ, h.size());
      if (ahead) --ahead;
      else peeked = cons.at;
      if (cons.at - cons.released >= release_every) cons.release();
    }
    // Caught up: stored before the producer position is read again, so that
    // a record reserved after that read finds the reader at its position
    // (the kernel's default wakeup, wakeup_bytes 0, is for exactly that case).
    cons.release();
    // A full fence between that store and the next load of the producer
    // position (release/acquire would let x86 reorder them): the kernel's
    // commit writes the header, then reads the consumer position to decide
    // on a wakeup; without it both sides could miss the other (libbpf has
    // the same pattern and relies on level-triggered epoll and the poll
    // timeout; so does this reader, but need not).
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
  }
}

bool RingReader::take_group(unsigned long& at, unsigned long prod) {
  const unsigned long mask = data_size_ - 1;
  std::size_t n = 0;
  bool busy = false;
  while (n < kGroup && at < prod) {
    const std::uint8_t* sample = data_ + (at & mask);
    const SampleHeader h = header_at(sample);
    if (h.busy()) {
      busy = true;
      break;
    }
    at += h.span();  // before handling, as consume()
    if (h.discarded()) continue;
    const void* data = sample + BPF_RINGBUF_HDR_SZ;
    const std::uint32_t magic = record_magic(data, h.size());
    if ((flow_handler_ && magic == SNIFFER_FLOW_RECORD_MAGIC) || (drop_handler_ && magic == SNIFFER_DROP_RECORD_MAGIC)) {
      if (n) group_handler_(group_records_, n);  // the packets before it first
      n = 0;
      handle(data, h.size());
      continue;
    }
    if (const DecodedRecord* record = decode_packet(data, h.size(), group_[n])) group_records_[n++] = record;
  }
  if (n) group_handler_(group_records_, n);
  return !busy;
}

}  // namespace sniffer
