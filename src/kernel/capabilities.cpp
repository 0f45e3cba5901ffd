#include "sniffer/capabilities.hpp"

#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace sniffer {

namespace {

std::uint64_t effective_capabilities() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

}  // namespace

std::string missing_capabilities(std::initializer_list<Capability> wanted) {
  const std::uint64_t effective = effective_capabilities();
  std::string missing;
  for (const auto& [bit, name] : wanted) {
    if (!(effective & (std::uint64_t{1} << bit))) missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  return missing;
}

std::string missing_capabilities_note(std::initializer_list<Capability> wanted, const std::string& why) {
  const std::string missing = missing_capabilities(wanted);
  if (missing.empty()) return {};
  return " (running as uid " + std::to_string(getuid()) + " without " + missing + ": " + why + ")";
}

}  // namespace sniffer
