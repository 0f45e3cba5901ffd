// The sensor host's own addresses as the blocklist sees them: those no block
// may cover, and those a block may cover with the address exempted.
#pragma once

#include <string>
#include <vector>

#include "sniffer/prefix.hpp"

namespace sniffer {

struct SensorAddressList {
  // IPv4 addresses and the IPv6 addresses configured on the host: the guard
  // refuses a block over one (it could lock the sensor or its neighbours out).
  std::vector<Prefix> configured;
  // IPv6 addresses the kernel holds with a lifetime (no IFA_F_PERMANENT):
  // made from a router advertisement (SLAAC) or handed out by DHCPv6, which
  // any link peer can send. A block over one is accepted and the address
  // exempted from it (red team, round 18: one forged RA per prefix made the
  // attacker's networks unblockable). The link's own traffic (neighbour
  // discovery, router advertisements, DHCPv6) uses link-local addresses,
  // which are configured ones.
  std::vector<Prefix> learned;
};

// This network namespace's addresses (every interface, loopback and
// link-local too). A v4-mapped IPv6 address (::ffff:a.b.c.d) is left out: it
// is no IPv4 address of the host, and as IPv6 it never meets a packet
// (red team, round 18: it exempted a.b.c.d from the IPv4 blocks).
SensorAddressList read_sensor_addresses();

// The IPv6 addresses in /proc/net/if_inet6's text that have no
// IFA_F_PERMANENT flag.
std::vector<Prefix> learned_ipv6_addresses(const std::string& if_inet6);

}  // namespace sniffer
