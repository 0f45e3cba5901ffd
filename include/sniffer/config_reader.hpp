// Reads the values of one JSON config document, collecting every problem
// with its path ("flows.idle_timeout_ms: must be between ..."). The rows of
// config_schema.hpp call these for each key they read.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sniffer/config.hpp"
#include "sniffer/config_names.hpp"

namespace sniffer {

class ConfigReader {
 public:
  std::vector<ConfigError> errors;

  void fail(const std::string& path, const std::string& message) { errors.push_back({path, message}); }

  // "path.key" ("key" at the root), "path[i]".
  static std::string join(const std::string& path, const std::string& key);
  static std::string item(const std::string& path, std::size_t index);

  // True when v is an object; reports its keys that are not in `known`.
  bool object(const nlohmann::json& v, const std::string& path, const std::vector<std::string>& known);

  // Each reads v (the value at `path`) into out; false, with a problem, when
  // v is refused (out is then unchanged).
  bool uint(const nlohmann::json& v, const std::string& path, std::uint64_t lo, std::uint64_t hi,
            std::uint64_t& out);
  bool boolean(const nlohmann::json& v, const std::string& path, bool& out);
  bool string(const nlohmann::json& v, const std::string& path, std::string& out);
  bool ports(const nlohmann::json& v, const std::string& path, std::vector<std::uint16_t>& out);
  bool prefix(const nlohmann::json& v, const std::string& path, Prefix& out);
  // An array of prefixes: the ones that parse are appended.
  bool prefixes(const nlohmann::json& v, const std::string& path, std::vector<Prefix>& out);

  // A string that must be one of the names of an enum's table.
  template <typename E, std::size_t N>
  bool choice(const nlohmann::json& v, const std::string& path, const EnumName<E> (&names)[N], E& out) {
    std::set<std::string> sorted;  // errors list the names alphabetically
    for (const auto& n : names) sorted.insert(n.name);
    std::string name;
    if (!choice_name(v, path, sorted, name)) return false;
    out = *value_of(names, name);
    return true;
  }

  // An array whose elements are names of an enum's table: the valid ones are
  // appended. `what` names the elements in the message for a non-array.
  template <typename E, std::size_t N>
  bool choices(const nlohmann::json& v, const std::string& path, const EnumName<E> (&names)[N], const char* what,
               std::vector<E>& out) {
    if (!v.is_array()) {
      fail(path, std::string("expected an array of ") + what + " (" + quoted_choices(names, ", ") + "), got " +
                     v.type_name());
      return false;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      E e;
      if (choice(v[i], item(path, i), names, e)) out.push_back(e);
    }
    return true;
  }

 private:
  bool choice_name(const nlohmann::json& v, const std::string& path, const std::set<std::string>& names,
                   std::string& out);
};

}  // namespace sniffer
