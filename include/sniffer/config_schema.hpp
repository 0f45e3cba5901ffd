// The config's keys as tables: one row per JSON key, naming the member it
// sets, how it is read (type, range, required), how it is written back, and
// its line in the README's "Configuration reference". The reader, the
// unknown-key check, config_to_json (--print-config) and the reference
// (--print-config-reference) all walk these rows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sniffer/config.hpp"
#include "sniffer/config_reader.hpp"

namespace sniffer {

// One line of the reference table.
struct ReferenceLine {
  std::string key, type, default_value, help;
};

template <typename S>
struct ConfigKey {
  std::string name;
  std::string type;  // the reference's type column
  std::string help;  // the reference's effect column
  // Reads the value at `path` into the object's struct; false when refused.
  std::function<bool(ConfigReader&, const nlohmann::json&, const std::string& path, S&)> read;
  // Writes the member into the object's JSON (an absent option writes nothing).
  std::function<void(const S&, nlohmann::json& object)> write;
  std::string missing;       // not empty: the key is required, and this is the problem when absent
  std::string default_text;  // not empty: the reference's default instead of the default's value
  bool listed = true;        // a line of its own in the reference (a section only has its keys')
  // The lines of the keys nested under this one ("publish.curve.*", "interfaces[].*").
  std::function<void(const std::string& path, std::vector<ReferenceLine>&)> nested;

  ConfigKey required(std::string message) && {
    missing = std::move(message);
    return std::move(*this);
  }
  ConfigKey defaults_to(std::string text) && {
    default_text = std::move(text);
    return std::move(*this);
  }
  ConfigKey typed(std::string text) && {
    type = std::move(text);
    return std::move(*this);
  }
};

template <typename S>
struct ConfigTable {
  std::vector<ConfigKey<S>> keys;
  // Rules across the keys of one object, once they are read.
  std::function<void(ConfigReader&, const std::string& path, S&)> finish;
};

enum class ObjectRead { NotAnObject, MissingRequired, Read };

// Reads the object v at `path` by its table: unknown keys, each key present,
// each required key missing, then the table's finish. With stop_at_required,
// a required key missing or refused stops the reading (MissingRequired).
template <typename S>
ObjectRead read_object(ConfigReader& r, const nlohmann::json& v, const std::string& path, const ConfigTable<S>& table,
                       S& out, bool stop_at_required = false) {
  std::vector<std::string> names;
  for (const auto& key : table.keys) names.push_back(key.name);
  if (!r.object(v, path, names)) return ObjectRead::NotAnObject;
  ObjectRead result = ObjectRead::Read;
  for (const auto& key : table.keys) {
    const std::string key_path = ConfigReader::join(path, key.name);
    const bool present = v.contains(key.name);
    if (!present && !key.missing.empty()) r.fail(key_path, key.missing);
    const bool refused = present && !key.read(r, v.at(key.name), key_path, out);
    if (!key.missing.empty() && (!present || refused)) {
      result = ObjectRead::MissingRequired;
      if (stop_at_required) return result;
    }
  }
  if (table.finish) table.finish(r, path, out);
  return result;
}

template <typename S>
nlohmann::json write_object(const ConfigTable<S>& table, const S& in) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& key : table.keys) key.write(in, out);
  return out;
}

// A default as the reference shows it: numbers bare, the rest `quoted`.
std::string reference_default(const nlohmann::json& value);

// The reference's lines of a table's keys, under `path`, with the defaults of `defaults`.
template <typename S>
void describe(const ConfigTable<S>& table, const S& defaults, const std::string& path,
              std::vector<ReferenceLine>& lines) {
  const nlohmann::json written = write_object(table, defaults);
  for (const auto& key : table.keys) {
    const std::string key_path = ConfigReader::join(path, key.name);
    if (key.listed) {
      std::string shown = key.default_text;
      if (shown.empty()) shown = key.missing.empty() ? reference_default(written.at(key.name)) : "required";
      lines.push_back({key_path, key.type, shown, key.help});
    }
    if (key.nested) key.nested(key_path, lines);
  }
}

// "integer 1..1000" (powers of two from 2^20 as such).
std::string integer_type(std::uint64_t lo, std::uint64_t hi);
// "`"a"`, `"b"`" for an enum's names.
template <typename E, std::size_t N>
std::string choice_type(const EnumName<E> (&names)[N]) {
  std::string out;
  for (const auto& n : names) out += std::string(out.empty() ? "" : ", ") + "`\"" + n.name + "\"`";
  return out;
}

// Rows for the common member types.
template <typename S, typename T>
ConfigKey<S> uint_key(const char* name, T S::*member, std::uint64_t lo, std::uint64_t hi, const char* help) {
  return {name, integer_type(lo, hi), help,
          [=](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            std::uint64_t n = 0;
            if (!r.uint(v, path, lo, hi, n)) return false;
            s.*member = static_cast<T>(n);
            return true;
          },
          [=](const S& s, nlohmann::json& o) { o[name] = s.*member; }};
}

template <typename S>
ConfigKey<S> bool_key(const char* name, bool S::*member, const char* help) {
  return {name, "bool", help,
          [=](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            return r.boolean(v, path, s.*member);
          },
          [=](const S& s, nlohmann::json& o) { o[name] = s.*member; }};
}

template <typename S>
ConfigKey<S> string_key(const char* name, std::string S::*member, const char* help) {
  return {name, "string", help,
          [=](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            return r.string(v, path, s.*member);
          },
          [=](const S& s, nlohmann::json& o) { o[name] = s.*member; }};
}

template <typename S>
ConfigKey<S> ports_key(const char* name, std::vector<std::uint16_t> S::*member, const char* help) {
  return {name, "array of ports", help,
          [=](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            return r.ports(v, path, s.*member);
          },
          [=](const S& s, nlohmann::json& o) { o[name] = s.*member; }};
}

template <typename S>
ConfigKey<S> prefixes_key(const char* name, std::vector<Prefix> S::*member, const char* help) {
  return {name, "array of prefixes", help,
          [=](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            return r.prefixes(v, path, s.*member);
          },
          [=](const S& s, nlohmann::json& o) {
            nlohmann::json list = nlohmann::json::array();
            for (const Prefix& p : s.*member) list.push_back(p.text());
            o[name] = list;
          }};
}

template <typename S, typename E, std::size_t N>
ConfigKey<S> choice_key(const char* name, E S::*member, const EnumName<E> (&names)[N], const char* help) {
  return {name, choice_type(names), help,
          [=, &names](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
            return r.choice(v, path, names, s.*member);
          },
          [=, &names](const S& s, nlohmann::json& o) { o[name] = name_of(names, s.*member); }};
}

// A nested object of its own table (a config section: "capture", "flows").
template <typename S, typename T>
ConfigKey<S> section_key(const char* name, T S::*member, const ConfigTable<T>& table) {
  ConfigKey<S> key{name, "object", "",
                   [=, &table](ConfigReader& r, const nlohmann::json& v, const std::string& path, S& s) {
                     return read_object(r, v, path, table, s.*member) != ObjectRead::NotAnObject;
                   },
                   [=, &table](const S& s, nlohmann::json& o) { o[name] = write_object(table, s.*member); }};
  key.listed = false;
  key.nested = [&table](const std::string& path, std::vector<ReferenceLine>& lines) {
    describe(table, T{}, path, lines);
  };
  return key;
}

// The tables (config_keys.cpp, config_blocklist.cpp).
const ConfigTable<Config>& config_table();
const ConfigTable<InterfaceConfig>& interface_table();
const ConfigTable<CurveConfig>& curve_table();
const ConfigTable<BlocklistConfig>& blocklist_table();

// The static blocklist entries against the guard the config defines (after
// every key is read: the guard needs control.endpoint). The sensor's own
// addresses are checked when the daemon applies the entries (Prevention),
// not here: a config file is valid or not whatever host reads it.
void check_blocklist_guard(ConfigReader& r, const Config& config);

// The reference as a Markdown table (README.md, "Configuration reference").
std::string config_reference_markdown();

}  // namespace sniffer
