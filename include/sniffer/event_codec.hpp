// Ring record -> protobuf PacketEvent: the message, for whatever needs one
// (tests, JSON). The publisher encodes events straight from the records
// (sniffer/event_wire.hpp) into the same bytes; the enum mappings below are
// both's.
#pragma once

#include "sniffer.pb.h"
#include "sniffer/interfaces.hpp"
#include "sniffer/record.hpp"

namespace sniffer {

// Fills `event` from a validated record. `iface` may be null when the record's
// ifindex is not (or no longer) known: the name is then empty. wall_ts_ns is
// the packet's wall-clock time (live: converted from the monotonic stamp).
void record_to_event(const DecodedRecord& record, const InterfaceInfo* iface, std::uint64_t wall_ts_ns,
                     v1::PacketEvent& event);

v1::Role to_proto(Role role);
v1::Mode to_proto_mode(std::uint8_t abi_mode);
v1::Hook to_proto_hook(std::uint8_t abi_hook);
// Inline: the publish path maps every event's verdict.
inline v1::Verdict to_proto_verdict(std::uint8_t abi_verdict) {
  // A verdict this build does not know is reported as a pass, never invented.
  switch (abi_verdict) {
    case SNIFFER_VERDICT_BLOCKED: return v1::VERDICT_BLOCKED;
    case SNIFFER_VERDICT_MONITORED: return v1::VERDICT_MONITORED;
    default: return v1::VERDICT_PASS;
  }
}

}  // namespace sniffer
