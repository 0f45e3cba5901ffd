// Config tests' helpers: the problems a config text gets, and a minimal config.
#pragma once

#include <string>
#include <vector>

#include "sniffer/config.hpp"

namespace sniffer::test {

// The problems reported for `text`, as "path: message" strings.
inline std::vector<std::string> problems(const std::string& text) {
  try {
    parse_config(text);
  } catch (const ConfigInvalid& e) {
    std::vector<std::string> out;
    for (const auto& err : e.errors()) out.push_back(err.path + ": " + err.message);
    return out;
  }
  return {};
}

inline bool has_problem(const std::vector<std::string>& list, const std::string& prefix) {
  for (const auto& p : list) {
    if (p.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

inline const char* kMinimal = R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}]})";

}  // namespace sniffer::test
