#include "sniffer/host_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "sniffer.pb.h"

namespace sniffer {

namespace {

bool matches(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b, unsigned len) {
  unsigned full = len / 8, rest = len % 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

unsigned prefix_length(const sockaddr* mask) {
  if (!mask) return 0;
  const std::uint8_t* bytes = nullptr;
  std::size_t n = 0;
  if (mask->sa_family == AF_INET) {
    bytes = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    bytes = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
    n = 16;
  }
  unsigned len = 0;
  for (std::size_t i = 0; i < n; ++i) len += static_cast<unsigned>(__builtin_popcount(bytes[i]));
  return len;
}

}  // namespace

HostAddresses HostAddresses::from_system(const InterfaceTable& interfaces) {
  HostAddresses h;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return h;
  for (ifaddrs* ifa = list; ifa; ifa = ifa->ifa_next) {
    if (!ifa->ifa_addr) continue;
    Address addr{};
    std::uint8_t version = 0;
    if (ifa->ifa_addr->sa_family == AF_INET) {
      std::memcpy(addr.data(), &reinterpret_cast<sockaddr_in*>(ifa->ifa_addr)->sin_addr, 4);
      version = 4;
    } else if (ifa->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(addr.data(), &reinterpret_cast<sockaddr_in6*>(ifa->ifa_addr)->sin6_addr, 16);
      version = 6;
    } else {
      continue;
    }
    h.add_local(version, addr);
    for (const auto& [ifindex, info] : interfaces) {
      if (info.role == Role::Lan && info.name == ifa->ifa_name) {
        h.add_lan_subnet(version, addr, prefix_length(ifa->ifa_netmask));
      }
    }
  }
  freeifaddrs(list);
  return h;
}

void HostAddresses::add_local(std::uint8_t ip_version, const Address& addr) {
  local_.push_back({ip_version, addr, ip_version == 4 ? 32u : 128u});
}

void HostAddresses::add_lan_subnet(std::uint8_t ip_version, const Address& addr, unsigned prefix_len) {
  lan_.push_back({ip_version, addr, prefix_len});
}

bool HostAddresses::is_local(std::uint8_t ip_version, const Address& addr) const {
  for (const auto& p : local_) {
    if (p.ip_version == ip_version && matches(p.addr, addr, p.len)) return true;
  }
  return false;
}

bool HostAddresses::in_lan(std::uint8_t ip_version, const Address& addr) const {
  for (const auto& p : lan_) {
    if (p.ip_version == ip_version && matches(p.addr, addr, p.len)) return true;
  }
  return false;
}

std::vector<std::pair<std::uint8_t, HostAddresses::Address>> HostAddresses::local_list() const {
  std::vector<std::pair<std::uint8_t, Address>> out;
  for (const Prefix& p : local_) out.emplace_back(p.ip_version, p.addr);
  return out;
}

std::uint8_t HostAddresses::classify(const sniffer_flow_state& flow) const {
  const sniffer_flow_key& k = flow.key;
  Address src{}, dst{};  // the originator's and the responder's
  std::memcpy(src.data(), flow.fwd_is_a_to_b ? k.addr_a : k.addr_b, src.size());
  std::memcpy(dst.data(), flow.fwd_is_a_to_b ? k.addr_b : k.addr_a, dst.size());
  if (is_local(k.ip_version, src)) return v1::FLOW_DIRECTION_FROM_SENSOR;
  if (is_local(k.ip_version, dst)) return v1::FLOW_DIRECTION_TO_SENSOR;
  if (flow.is_wan_facing) return v1::FLOW_DIRECTION_INBOUND;
  return in_lan(k.ip_version, dst) ? v1::FLOW_DIRECTION_INTERNAL : v1::FLOW_DIRECTION_OUTBOUND;
}

}  // namespace sniffer
