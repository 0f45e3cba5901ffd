#include "sniffer/sensor_addresses.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "sniffer/block_guard.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"

namespace sniffer {

namespace {

constexpr unsigned kIfaPermanent = 0x80;  // IFA_F_PERMANENT (linux/if_addr.h)

Prefix host_prefix(std::uint8_t version, const HostAddresses::Address& addr) {
  Prefix p;
  p.family = version == 4 ? AF_INET : AF_INET6;
  p.addr = addr;
  p.length = version == 4 ? 32 : 128;
  return p;
}

bool v4_mapped(const Prefix& p) { return p.family == AF_INET6 && unmapped(p).family == AF_INET; }

// /proc/net/if_inet6's 32 hex digits.
bool parse_hex_address(const std::string& hex, Prefix& p) {
  if (hex.size() != 32) return false;
  p.family = AF_INET6;
  p.length = 128;
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned byte = 0;
    if (std::sscanf(hex.c_str() + 2 * i, "%2x", &byte) != 1) return false;
    p.addr[i] = static_cast<std::uint8_t>(byte);
  }
  return true;
}

}  // namespace

std::vector<Prefix> learned_ipv6_addresses(const std::string& if_inet6) {
  std::vector<Prefix> out;
  std::istringstream lines(if_inet6);
  std::string line;
  while (std::getline(lines, line)) {
    // address ifindex prefix_len scope flags name, all hex but the name
    std::istringstream fields(line);
    std::string hex, ifindex, prefix_len, scope, flags;
    Prefix p;
    if (!(fields >> hex >> ifindex >> prefix_len >> scope >> flags) || !parse_hex_address(hex, p)) continue;
    if ((std::stoul(flags, nullptr, 16) & kIfaPermanent) == 0) out.push_back(p);
  }
  return out;
}

SensorAddressList read_sensor_addresses() {
  std::ifstream in("/proc/net/if_inet6");
  const std::vector<Prefix> learned =
      learned_ipv6_addresses(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  SensorAddressList list;
  for (const auto& [version, addr] : HostAddresses::from_system(InterfaceTable{}).local_list()) {
    const Prefix p = host_prefix(version, addr);
    if (v4_mapped(p)) continue;
    const bool is_learned = std::find(learned.begin(), learned.end(), p) != learned.end();
    (is_learned ? list.learned : list.configured).push_back(p);
  }
  return list;
}

}  // namespace sniffer
