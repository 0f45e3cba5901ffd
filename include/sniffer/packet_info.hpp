// What the flow table needs of one observed packet, derived from a record.
#pragma once

#include <array>
#include <cstdint>

#include "sniffer/abi.h"

namespace sniffer {

struct PacketInfo {
  std::uint64_t ts_ns = 0;  // wall clock (live) or capture time (offline)
  std::uint8_t ip_version = 0;
  std::uint8_t l4_proto = 0;
  std::array<std::uint8_t, 16> src{}, dst{};  // network order; IPv4 in the first 4 bytes
  std::uint16_t sport = 0, dport = 0;
  std::uint16_t vlan_id = 0;
  std::uint32_t wire_len = 0;
  std::uint32_t header_len = 0;   // L3 + L4 header bytes
  std::uint32_t payload_len = 0;  // L4 payload bytes
  std::uint8_t tcp_flags = 0;
  std::uint16_t tcp_window = 0;
  std::uint32_t tcp_seq = 0;
  bool has_tcp_header = false;    // flags and seq are valid
  bool has_tcp_window = true;     // with has_tcp_header: the window is valid (false: the capture cut it)
  std::uint32_t ifindex = 0;
  std::uint8_t hook = 0;
  std::uint8_t mode = 0;
  bool is_wan_facing = false;
};

// Fills `out` from a record; false when the packet cannot belong to a flow
// (not IP, or the IP header was not read).
bool packet_info_from_record(const sniffer_record& r, std::uint64_t ts_ns, PacketInfo& out);

}  // namespace sniffer
