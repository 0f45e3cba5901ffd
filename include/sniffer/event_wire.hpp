// Packet events encoded straight from ring records into the batch's wire
// bytes: no PacketEvent message per event, no ByteSizeLong or Serialize.
// The bytes are exactly those libprotobuf writes for the same EventBatch
// whose events record_to_event (sniffer/event_codec.hpp) fills: fields in
// number order, proto3's rules (no default-valued scalar, packed repeated,
// minimal varints). tests/unit/test_event_wire.cpp compares the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "sniffer/interfaces.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/record.hpp"
#include "sniffer/wire_writer.hpp"

namespace sniffer {

// An EventBatch being encoded, event by event, into the buffer that
// ZeroMQ takes when it is sent (BatchStream's Payload).
class EventWireBatch {
 public:
  EventWireBatch(const std::string& sensor_id, std::uint64_t sensor_start_ns, std::uint32_t worker);

  // Appends the event of a validated record, as record_to_event fills it,
  // with its Community ID (field 35; empty: none).
  void add(const DecodedRecord& record, const InterfaceInfo* iface, std::uint64_t wall_ts_ns,
           std::string_view community_id);
  std::uint32_t size() const { return count_; }
  // The interface table changed: an InterfaceInfo* seen before may now be
  // another interface's.
  void forget_interfaces() { iface_fields_.valid = false; }
  // The EventBatch's wire bytes after PublishSocket::kSequenceRoom bytes of
  // room for the sequence; empties the batch.
  SerialisedBatch take();

 private:
  // Starts a batch: room for the sequence, then head_.
  void begin();
  // Room for `more` bytes after the used ones.
  void reserve(std::size_t more) {
    if (used_ + more > capacity_) [[unlikely]] grow(more);
  }
  void grow(std::size_t more);
  [[gnu::noinline]] void add_long(const DecodedRecord& record, std::string_view iface_fields, std::uint64_t wall_ts_ns,
                                  std::string_view community_id, std::size_t bound);
  // The event's fields at `at` (room for its bound reserved); their end.
  [[gnu::always_inline]] inline std::uint8_t* encode_event(const DecodedRecord& record, std::string_view iface_fields, std::uint64_t wall_ts_ns,
                             std::string_view community_id, std::uint8_t* at);

  // The last event's fields 3 to 8, encoded, and what they were encoded
  // from: the interface by its entry (forget_interfaces() when the table
  // changes), the record's ifindex, is_wan_facing, mode and hook.
  struct IfaceFields {
    bool valid = false;
    const InterfaceInfo* info = nullptr;
    std::uint64_t key = 0;
    std::string bytes;
    std::string_view of(const InterfaceInfo* iface, const sniffer_record& r) {
      // ifindex, then hook, mode and is_wan_facing: two loads.
      static_assert(offsetof(sniffer_record, mode) == offsetof(sniffer_record, hook) + 1 &&
                    offsetof(sniffer_record, is_wan_facing) == offsetof(sniffer_record, hook) + 2);
      std::uint32_t after_hook;
      std::memcpy(&after_hook, &r.hook, 4);
      const std::uint64_t k = std::uint64_t{r.ifindex} << 32 | (after_hook & 0xffffff);
      if (!valid || k != key || iface != info) encode(iface, r, k);
      return bytes;
    }
    void encode(const InterfaceInfo* iface, const sniffer_record& r, std::uint64_t k);
  };

  IfaceFields iface_fields_;
  // Fields 1 and 2 (timestamp_ns, monotonic_ns): the high bits' bytes kept.
  wire::RepeatingU64<1> timestamp_;
  wire::RepeatingU64<2> monotonic_;
  std::string head_;  // fields 1 and 3 (sensor_id, sensor_start_ns): before the events
  std::string tail_;  // field 5 (worker): after them
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t used_ = 0;
  std::size_t capacity_ = 0;
  std::size_t next_capacity_ = 4096;  // the largest batch's so far: a new buffer rarely grows
  std::uint32_t count_ = 0;
};

using EventStream = BatchStream<EventWireBatch>;

}  // namespace sniffer
