// What the daemon knows of each monitored interface, by ifindex.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "sniffer/config.hpp"

namespace sniffer {

struct InterfaceInfo {
  std::string name;
  std::uint32_t ifindex = 0;
  Role role = Role::Lan;
  Mode mode = Mode::Gateway;
  std::uint8_t stats_slot = 0;  // its block in the kernel's stats map
};

using InterfaceTable = std::unordered_map<std::uint32_t, InterfaceInfo>;

// if_nametoindex with a clear error naming the interface and its config path.
std::uint32_t resolve_ifindex(const std::string& name, const std::string& config_path);

}  // namespace sniffer
