// Reads the "events" ring buffer: validates every record against the ABI
// (counting what it rejects) and hands the good ones to a handler: packet
// records to one, flow records (kernel flow aggregation) to the other.
//
// The ring is mapped here, not through libbpf's ring_buffer: libbpf stores
// the consumer position after every record, and the programs read that
// position on every reservation, so each record moved its cache line from
// the reader's CPU to the writer's and back. This reader gives the space
// back every sixteenth of the ring and whenever it has caught up, and
// fetches the records a little ahead of the one it decodes (only bytes the
// programs have already reserved). A peek handler, if set, sees each packet
// sample kPeekAhead samples before the handler does (only those already
// committed), to fetch what handling it will need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "sniffer/record.hpp"
#include "sniffer/stats.hpp"

namespace sniffer {

class RingReader {
 public:
  using Handler = std::function<void(const DecodedRecord&)>;
  using FlowHandler = std::function<void(const sniffer_flow_record&)>;
  using DropHandler = std::function<void(const sniffer_drop_record&)>;
  using Peek = std::function<void(const void* data, std::size_t size)>;
  // Packet records in ring order, n <= kGroup; their snippets point into
  // the ring, valid until the handler returns.
  using GroupHandler = std::function<void(const DecodedRecord* const* records, std::size_t n)>;
  static constexpr unsigned kPeekAhead = 6;
  static constexpr std::size_t kGroup = 16;

  // Without a flow (drop) handler, a flow (drop) record counts as a decode error.
  RingReader(int events_map_fd, std::uint32_t payload_bytes, Handler handler, FlowHandler flow_handler = nullptr,
             DropHandler drop_handler = nullptr);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Sets the peek handler (consume() only; a sample's bytes, not validated).
  void set_peek(Peek peek) { peek_ = std::move(peek); }
  // Whether the next consume()s call it (default: yes); off, a record costs
  // no peek call at all (the worker's while its flow table fits the caches).
  void set_peek_active(bool active) { peek_active_ = active; }
  // Set, consume() hands packet records over in groups of up to kGroup
  // consecutive samples while no peek is active (a flow or drop record
  // between them ends a group: the order stays the ring's). A handler's
  // throw skips the rest of its group.
  void set_group_handler(GroupHandler handler) { group_handler_ = std::move(handler); }

  // Waits up to timeout_ms for a wakeup, handling nothing (consume() then
  // does). False when a signal interrupted the wait.
  bool wait(int timeout_ms);
  // Handles every record available now, without waiting.
  void consume();
  // Handles one record (a ring sample).
  void handle(const void* data, std::size_t size);
  // Counts and checks one record: a packet record's decoded form (the
  // reader's, valid until the next record), which the caller handles; or
  // nullptr: a flow or drop record (its handler has had it) or a rejected one.
  DecodedRecord* decode(const void* data, std::size_t size);
  // Where a record written for decode() is decoded without a copy (the user
  // engine's record area): room for a header and SNIFFER_MAX_PAYLOAD_BYTES.
  void* record_area() { return &scratch_.record.header; }

  const DrainCounters& counters() const { return counters_; }

 private:
  // A packet record, counted and decoded into `into`; nullptr (counted as a
  // decode error) when rejected.
  DecodedRecord* decode_packet(const void* data, std::size_t size, DecodedRecord& into);
  // Takes the committed samples from `at` (moved past them), up to kGroup;
  // false when it stopped at a busy one.
  bool take_group(unsigned long& at, unsigned long prod);

  // The ring's mappings (as libbpf maps them): the consumer page, writable;
  // the producer page and the data pages, mapped twice in a row so that a
  // record wrapping around the end reads as one piece.
  int epoll_fd_ = -1;
  std::size_t page_size_ = 0;
  std::size_t data_size_ = 0;  // a power of two
  unsigned long* consumer_pos_ = nullptr;
  unsigned long* producer_pos_ = nullptr;  // followed by the data, one page on
  const std::uint8_t* data_ = nullptr;

  std::uint32_t payload_bytes_;
  Handler handler_;
  FlowHandler flow_handler_;
  DropHandler drop_handler_;
  Peek peek_;
  GroupHandler group_handler_;
  DecodedRecord group_[kGroup];
  const DecodedRecord* group_records_[kGroup] = {};
  bool peek_active_ = true;
  DrainCounters counters_;
  RecordArea scratch_;  // its record: decode()'s; its area: the user engine's records (record_area())
  sniffer_flow_record flow_scratch_{};
  sniffer_drop_record drop_scratch_{};
};

}  // namespace sniffer
