// The one path every validated record takes, live or offline: it becomes a
// packet event (when packet events are published) and feeds the flow table
// (when flows are on). Only the timestamp's source differs between modes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sniffer/community_id.hpp"
#include "sniffer/flow_table.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/event_wire.hpp"
#include "sniffer/record.hpp"

namespace sniffer {

struct ProcessorCounters {
  std::uint64_t records = 0;
  std::uint64_t unknown_ifindex = 0;     // records of an ifindex the daemon does not list (no name)
  std::uint64_t not_ip = 0;              // no IP header read: an event, but no flow
  std::uint64_t egress_forwarded = 0;    // TC-egress copies of forwarded packets: kept out of flows
};

// Community IDs by tuple, for packets no flow in the table holds (kernel
// flow aggregation, ICMP messages, fragments): direct-mapped, a slot per
// tuple hash, each with the last tuple hashed there and its ID. Only saves
// the SHA-1: an ID is always that of its exact tuple (compared whole).
class CommunityIdCache {
 public:
  static constexpr std::size_t kSlots = 4096;  // a power of two
  // The ID of `tuple`; valid until the next call.
  const std::string& get(const CommunityIdTuple& tuple, std::uint16_t seed);

 private:
  struct Entry {
    CommunityIdTuple tuple;
    std::uint16_t seed = 0;
    std::string id;  // empty: unused
  };
  std::vector<Entry> entries_;  // kSlots once used
};

class RecordProcessor {
 public:
  // events and flows may be null (switched off). community_id_seed:
  // publish.community_id_seed.
  RecordProcessor(const InterfaceTable& interfaces, const HostAddresses& host, EventStream* events,
                  FlowTable* flows, std::uint16_t community_id_seed = 0);

  // ts_ns: wall-clock time of the packet (live: converted from the kernel's
  // monotonic stamp; offline: the capture's). now_mono_ns: for batch ageing.
  void process(const DecodedRecord& record, std::uint64_t ts_ns, std::uint64_t now_mono_ns);

  // Records in order, with the same counts, flows and events as process()
  // one by one, n <= kGroup: each record's flow view and key hash first,
  // then the flow updates and events in order (each add() looks its key up
  // again: a flow an earlier record of the group started or ended is
  // found as one by one). The keys' hashes of a group overlap, instead of
  // each record's hash -> bucket -> slot chain waiting for the record before.
  static constexpr std::size_t kGroup = 16;
  void process_group(const DecodedRecord* const* records, const std::uint64_t* ts_ns, std::size_t n,
                     std::uint64_t now_mono_ns);

  // A ring sample that process() gets a few records later (RingReader's
  // peek): starts fetching its flow's table entry. Only a hint.
  void prefetch(const void* data, std::size_t size);

  const ProcessorCounters& counters() const { return counters_; }
  // The interface table changed (its entries moved): forget the one looked up last.
  void forget_interface() { iface_known_ = false; }

 private:
  // r's interface (null: not in the table); counts the record.
  [[gnu::always_inline]] inline const InterfaceInfo* interface_of(const sniffer_record& r);
  // Whether the host sent r (its source is one of the host's addresses).
  bool sent_by_host(const sniffer_record& r) const;
  // Adds r to its flow; the flow, or null when r joins none. Both this and
  // community_id_of are inlined into process() (every record takes them).
  [[gnu::always_inline]] inline const FlowState* add_to_flow(const sniffer_record& r, std::uint64_t ts_ns);
  // r's Community ID: its flow's when r hashes the same (one SHA-1 per flow,
  // not per packet), else computed (and kept for the next packet); empty
  // when r has no IP addresses.
  [[gnu::always_inline]] inline const std::string& community_id_of(const sniffer_record& r, const FlowState* flow);

  const InterfaceTable* interfaces_;
  const HostAddresses* host_;
  EventStream* events_;
  FlowTable* flows_;
  std::uint16_t community_id_seed_;
  ProcessorCounters counters_;
  // The last record's interface, by ifindex (null: not in the table).
  bool iface_known_ = false;
  std::uint32_t iface_ifindex_ = 0;
  const InterfaceInfo* iface_ = nullptr;
  FlowPacket packet_;
  FlowPacket group_packets_[kGroup];
  std::uint32_t group_hashes_[kGroup];
  std::uint8_t group_joins_[kGroup];  // 0: no flow (not IP), 1: joins one, 2: TC egress (if sent by the host)
  CommunityIdCache community_ids_;  // the IDs computed here
};

}  // namespace sniffer
