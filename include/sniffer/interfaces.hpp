// What the daemon knows of each monitored interface, by ifindex.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "sniffer/abi.h"
#include "sniffer/config.hpp"

namespace sniffer {

struct InterfaceInfo {
  std::string name;
  std::uint32_t ifindex = 0;
  Role role = Role::Lan;
  Mode mode = Mode::Gateway;
  std::uint8_t stats_slot = 0;  // its block in the kernel's stats map
  // The block's counters when this interface took it: a slot freed by a
  // reload is reused, and its totals stay in the sensor's totals, not in the
  // new interface's.
  std::array<std::uint64_t, SNIFFER_NUM_STATS> stats_baseline{};
};

using InterfaceTable = std::unordered_map<std::uint32_t, InterfaceInfo>;

// if_nametoindex with a clear error naming the interface and its config path.
std::uint32_t resolve_ifindex(const std::string& name, const std::string& config_path);

}  // namespace sniffer
