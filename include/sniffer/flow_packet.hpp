// One packet as the flow logic takes it, built once from its record as the
// kernel builds it (account_flow in bpf/sniffer.bpf.c): the flow's canonical
// key, which way the packet goes, and what it adds to the flow's features.
#pragma once

#include <cstdint>
#include <cstring>

#include "sniffer/abi.h"
#include "sniffer/flow_update.h"

inline bool operator==(const sniffer_flow_key& x, const sniffer_flow_key& y) {
  return std::memcmp(&x, &y, sizeof x) == 0;  // no padding: asserted in abi.h
}

namespace sniffer {

// Canonical bidirectional key: the (address, port) pair that sorts first is
// side A, so both directions of a conversation map to the same key.
using FlowKey = sniffer_flow_key;

struct FlowPacket {
  FlowKey key;
  bool a_to_b;                 // the packet goes from side A to side B
  sniffer_flow_packet packet;  // its time, lengths and TCP fields
  // Where it was seen: a flow it starts keeps these.
  std::uint32_t ifindex;
  std::uint8_t mode;           // SNIFFER_MODE_*
  std::uint8_t is_wan_facing;
};

// The record's flow key, the same for both directions; true when the record
// runs from the key's a side to its b side.
inline bool flow_key_of(const sniffer_record& r, FlowKey& key) {
  return sniffer_flow_key_make(r.saddr, r.daddr, r.sport, r.dport, r.vlan_count ? r.vlan_ids[0] : 0, r.l4_proto,
                               r.ip_version, &key) != 0;
}

// Fills `out` from a record seen at ts_ns; false when the packet cannot
// belong to a flow (not IP, or the IP header was not read). Inline: every
// packet takes it, just before the flow table.
[[gnu::always_inline]] inline bool flow_packet_of(const sniffer_record& r, std::uint64_t ts_ns, FlowPacket& out) {
  if (!sniffer_flow_packet_of(&r, ts_ns, r.wire_len, &out.packet)) return false;
  out.a_to_b = flow_key_of(r, out.key);
  out.ifindex = r.ifindex;
  out.mode = r.mode;
  out.is_wan_facing = r.is_wan_facing != 0 ? 1 : 0;
  return true;
}

}  // namespace sniffer
