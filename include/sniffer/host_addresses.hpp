// The sensor host's own addresses and its LAN subnets: what tells a flow's
// direction relative to the gateway, and which TC-egress packets the host
// sent itself (the others are forwarded copies, already seen on ingress).
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "sniffer/abi.h"
#include "sniffer/interfaces.hpp"

namespace sniffer {

class HostAddresses {
 public:
  using Address = std::array<std::uint8_t, 16>;  // network order, IPv4 in the first 4 bytes

  // Every address configured in this network namespace, and the subnets of
  // the interfaces whose role is LAN.
  static HostAddresses from_system(const InterfaceTable& interfaces);

  void add_local(std::uint8_t ip_version, const Address& addr);
  void add_lan_subnet(std::uint8_t ip_version, const Address& addr, unsigned prefix_len);

  bool is_local(std::uint8_t ip_version, const Address& addr) const;
  // The host's addresses (ip_version, address): what the programs' local_addrs map holds.
  std::vector<std::pair<std::uint8_t, Address>> local_list() const;
  bool in_lan(std::uint8_t ip_version, const Address& addr) const;
  // The v1::FlowDirection of a flow, seen from its originator.
  std::uint8_t classify(const sniffer_flow_state& flow) const;

 private:
  struct Prefix {
    std::uint8_t ip_version;
    Address addr;
    unsigned len;
  };
  std::vector<Prefix> local_, lan_;
};

}  // namespace sniffer
