#include "sniffer/config_reader.hpp"

#include <algorithm>

#include "sniffer/error.hpp"

namespace sniffer {

using json = nlohmann::json;

std::string ConfigReader::join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string ConfigReader::item(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

bool ConfigReader::object(const json& v, const std::string& path, const std::vector<std::string>& known) {
  if (!v.is_object()) {
    fail(path, std::string("expected an object, got ") + v.type_name());
    return false;
  }
  for (const auto& item : v.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) fail(join(path, item.key()), "unknown key");
  }
  return true;
}

bool ConfigReader::uint(const json& v, const std::string& path, std::uint64_t lo, std::uint64_t hi,
                        std::uint64_t& out) {
  const std::string range = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (!v.is_number_integer()) {
    fail(path, std::string("expected an unsigned integer, got ") + v.type_name());
    return false;
  }
  if (v.get<std::int64_t>() < 0 && !v.is_number_unsigned()) {
    fail(path, range + ", got " + v.dump());
    return false;
  }
  const auto n = v.get<std::uint64_t>();
  if (n < lo || n > hi) {
    fail(path, range + ", got " + std::to_string(n));
    return false;
  }
  out = n;
  return true;
}

bool ConfigReader::boolean(const json& v, const std::string& path, bool& out) {
  if (!v.is_boolean()) {
    fail(path, std::string("expected true or false, got ") + v.type_name());
    return false;
  }
  out = v.get<bool>();
  return true;
}

bool ConfigReader::string(const json& v, const std::string& path, std::string& out) {
  if (!v.is_string()) {
    fail(path, std::string("expected a string, got ") + v.type_name());
    return false;
  }
  out = v.get<std::string>();
  return true;
}

bool ConfigReader::ports(const json& v, const std::string& path, std::vector<std::uint16_t>& out) {
  if (!v.is_array()) {
    fail(path, std::string("expected an array of ports, got ") + v.type_name());
    return false;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    if (!e.is_number_integer() || e.get<std::int64_t>() < 1 || e.get<std::int64_t>() > 65535) {
      fail(item(path, i), "expected a port number between 1 and 65535, got " + e.dump());
      continue;
    }
    out.push_back(static_cast<std::uint16_t>(e.get<std::uint64_t>()));
  }
  return true;
}

bool ConfigReader::prefix(const json& v, const std::string& path, Prefix& out) {
  if (!v.is_string()) {
    fail(path, std::string("expected a prefix string (\"203.0.113.0/24\", \"2001:db8::1\"), got ") + v.type_name());
    return false;
  }
  try {
    out = Prefix::parse(v.get<std::string>());
    return true;
  } catch (const Error& e) {
    fail(path, e.what());
    return false;
  }
}

bool ConfigReader::prefixes(const json& v, const std::string& path, std::vector<Prefix>& out) {
  if (!v.is_array()) {
    fail(path, std::string("expected an array of prefixes, got ") + v.type_name());
    return false;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    Prefix p;
    if (prefix(v[i], item(path, i), p)) out.push_back(p);
  }
  return true;
}

bool ConfigReader::choice_name(const json& v, const std::string& path, const std::set<std::string>& names,
                               std::string& out) {
  std::string allowed;
  for (const auto& name : names) allowed += (allowed.empty() ? "" : ", ") + name;
  if (!v.is_string()) {
    fail(path, std::string("expected a string (one of ") + allowed + "), got " + v.type_name());
    return false;
  }
  if (!names.count(v.get<std::string>())) {
    fail(path, "unknown value " + v.dump() + " (expected one of " + allowed + ")");
    return false;
  }
  out = v.get<std::string>();
  return true;
}

}  // namespace sniffer
