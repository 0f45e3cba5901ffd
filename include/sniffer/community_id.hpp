// Community ID v1 (Corelight's community-id-spec, as Zeek, Suricata, Elastic,
// Arkime and Wireshark compute it): a flow identifier other tools can join on.
//   "1:" + base64(SHA1(seed . saddr . daddr . proto . 0 . sport . dport))
// with the seed and ports in network order and the endpoints ordered so both
// directions of a flow give the same ID. ICMP and ICMPv6 take their type and
// code as ports (a request/reply pair maps both ways; other types are one-way,
// never reordered). Protocols without ports hash no ports: so does a fragment
// after the first, whose L4 header travels in the first fragment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sniffer/abi.h"

namespace sniffer {

// The hash input of one packet or flow, its endpoints already in the spec's order.
struct CommunityIdTuple {
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};
  std::uint8_t addr_len = 0;  // 4 or 16
  std::uint8_t proto = 0;
  bool has_ports = false;
  std::uint16_t sport = 0;  // ports, or ICMP type/code as the spec maps them
  std::uint16_t dport = 0;

  bool operator==(const CommunityIdTuple&) const = default;
};

// The tuple of a packet going src -> dst (4 or 16 bytes by ip_version). For
// ICMP and ICMPv6, sport and dport are its type and code. no_l4_header: a
// fragment after the first.
CommunityIdTuple community_id_tuple(std::uint8_t ip_version, const std::uint8_t* src, const std::uint8_t* dst,
                                    std::uint8_t proto, std::uint16_t sport, std::uint16_t dport, bool no_l4_header);

// A packet's tuple, from its record.
CommunityIdTuple community_id_tuple(const sniffer_record& r);

// A flow's tuple: its originator as source, and for ICMP its first packet's
// type and code.
CommunityIdTuple community_id_tuple(const sniffer_flow_state& s);

// "1:" and the base64 of the SHA-1 (OpenSSL's libcrypto) of the tuple and seed.
std::string community_id(const CommunityIdTuple& tuple, std::uint16_t seed);

// "1:" and the base64 of the 20-byte digest, 4 * ceil(20 / 3) characters.
inline constexpr std::size_t kCommunityIdLength = 2 + 28;
// The same ID written at `out` (room for kCommunityIdLength); returns its end.
char* write_community_id(char* out, const CommunityIdTuple& tuple, std::uint16_t seed);
// Two IDs, as write_community_id writes each: on the CPU's SHA instructions
// the two hashes (each one serial chain) overlap, about the time of one.
void write_community_id_pair(char* out_a, const CommunityIdTuple& a, char* out_b, const CommunityIdTuple& b,
                             std::uint16_t seed);

}  // namespace sniffer
