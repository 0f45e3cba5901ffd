// From text (or a file, or --interface) to a Config: strict JSON, then the
// rows of config_schema.hpp, then validate_config.
#include "sniffer/config.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sniffer/config_schema.hpp"
#include "sniffer/error.hpp"
#include "sniffer/file_trust.hpp"
#include "sniffer/small_file.hpp"

namespace sniffer {

using json = nlohmann::json;

namespace {

std::string join_errors(const std::vector<ConfigError>& errors) {
  std::ostringstream out;
  out << "invalid configuration (" << errors.size() << (errors.size() == 1 ? " problem)" : " problems)");
  for (const auto& e : errors) out << "\n  " << (e.path.empty() ? "<root>" : e.path) << ": " << e.message;
  return out.str();
}

constexpr std::size_t kMaxConfigBytes = 16u << 20;
// Arrays and objects within one another: the schema needs 4 (the root,
// blocklist, entries, an entry). Each level keeps its path, so memory would
// grow with the square of an unbounded depth.
constexpr std::size_t kMaxConfigDepth = 32;

// Builds the document like nlohmann's own DOM parser, and reports every key
// that an object has twice, by its path ("publish.endpoint: duplicate key"):
// nlohmann keeps the last silently.
class StrictDomBuilder : public nlohmann::json_sax<json> {
 public:
  std::vector<ConfigError> errors;

  explicit StrictDomBuilder(json& root) : root_(root) {}

  bool null() override { return value(nullptr); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override { return value(v); }
  bool number_float(number_float_t v, const string_t& text) override {
    if (!std::isfinite(v)) {
      throw ConfigInvalid({{"", "not valid JSON: number overflow parsing '" + text + "'"}});
    }
    return value(v);
  }
  bool string(string_t& v) override { return value(v); }
  bool binary(binary_t& v) override { return value(json::binary(v)); }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool key(string_t& k) override {
    Frame& top = stack_.back();
    if (top.value->contains(k)) {
      errors.push_back({top.path.empty() ? k : top.path + "." + k, "duplicate key"});
    }
    top.key = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw e;
  }

 private:
  struct Frame {
    json* value;
    std::string path;
    std::string key;  // objects: the key of the next value
  };

  // Places v in the current container (or as the root); returns it and its path.
  std::pair<json*, std::string> place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return {&root_, ""};
    }
    Frame& top = stack_.back();
    if (top.value->is_array()) {
      std::string path = top.path + "[" + std::to_string(top.value->size()) + "]";
      top.value->push_back(std::move(v));
      return {&top.value->back(), path};
    }
    json& slot = (*top.value)[top.key];
    slot = std::move(v);
    return {&slot, top.path.empty() ? top.key : top.path + "." + top.key};
  }
  bool value(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& container) {
    auto [where, path] = place(std::move(container));
    if (stack_.size() >= kMaxConfigDepth) {
      throw ConfigInvalid({{path, "not valid JSON: nested deeper than " + std::to_string(kMaxConfigDepth) +
                                      " levels (arrays and objects; the configuration's deepest value is 4 levels "
                                      "down, blocklist.entries[0].prefix)"}});
    }
    stack_.push_back({where, std::move(path), {}});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  json& root_;
  std::vector<Frame> stack_;
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "sniffer";
  return buf;
}

}  // namespace

ConfigInvalid::ConfigInvalid(std::vector<ConfigError> errors)
    : std::runtime_error(join_errors(errors)), errors_(std::move(errors)) {}

std::vector<Hook> default_hooks(Mode mode) {
  if (mode == Mode::HostBased) return {Hook::XdpIngress, Hook::TcEgress};
  return {Hook::XdpIngress};
}

Config default_config() {
  Config c;
  c.sensor_id = host_name();
  return c;
}

Config parse_config_json(const json& doc) {
  ConfigReader r;
  Config c = default_config();
  if (read_object(r, doc, "", config_table(), c) == ObjectRead::NotAnObject) throw ConfigInvalid(std::move(r.errors));
  check_blocklist_guard(r, c);

  // The rules on the whole config, the same for every way in. A key the
  // reader already refused keeps its default: its one problem is the reader's.
  std::set<std::string> refused;
  for (const auto& e : r.errors) refused.insert(e.path);
  for (auto& e : validate_config(c)) {
    if (!refused.count(e.path)) r.errors.push_back(std::move(e));
  }
  if (!r.errors.empty()) throw ConfigInvalid(std::move(r.errors));
  c.pin_path = normal_pin_path(c.pin_path);  // validated as such; refusals quote it as written
  return c;
}

Config parse_config(const std::string& text) {
  // nlohmann's reader takes a NUL byte for the end of the input, and would
  // ignore everything after it.
  if (auto nul = text.find('\0'); nul != std::string::npos) {
    auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    throw ConfigInvalid({{"", "not valid JSON: a NUL byte at line " + std::to_string(line) + " (byte " +
                                  std::to_string(nul) + ")"}});
  }
  json doc;
  StrictDomBuilder builder(doc);
  try {
    // strict: anything but blanks and comments after the top-level value is an error.
    json::sax_parse(text, &builder, json::input_format_t::json, /*strict=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {  // parse_error
    throw ConfigInvalid({{"", std::string("not valid JSON: ") + e.what()}});
  }
  if (builder.errors.empty()) return parse_config_json(doc);
  // Every problem, not just the first: the duplicates, then what the document
  // (with the last of each duplicate, as nlohmann keeps it) has besides.
  std::vector<ConfigError> errors = std::move(builder.errors);
  try {
    (void)parse_config_json(doc);
  } catch (const ConfigInvalid& e) {
    errors.insert(errors.end(), e.errors().begin(), e.errors().end());
  }
  throw ConfigInvalid(std::move(errors));
}

// The config steers a privileged sensor (its blocklist, outputs, keys), and a
// reload applies it: a file or directory any local user can write is refused.
// A group's write is the operator's choice (an admins' group).
Config load_config_file(const std::string& path) {
  const std::string name = "config file \"" + path + "\"";
  std::string text;
  struct stat st {};
  try {
    text = read_small_file(path, kMaxConfigBytes, /*regular_only=*/true, &st);
  } catch (const Error& e) {
    throw ConfigInvalid({{"", "cannot read " + name + ": " + e.what()}});
  }
  try {
    refuse_if_writable(name, path, st, Writers::kOther, "change the sensor's blocklist, outputs and keys");
  } catch (const Error& e) {
    throw ConfigInvalid({{"", std::string(e.what())}});
  }
  return parse_config(text);
}

InterfaceConfig parse_interface_spec(const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  std::string path = "--interface " + spec;
  if (parts.size() != 3) throw ConfigInvalid({{path, "expected NAME:ROLE:MODE, e.g. eth0:wan:gateway"}});
  json v = {{"name", parts[0]}, {"role", parts[1]}, {"mode", parts[2]}};
  ConfigReader r;
  InterfaceConfig iface;
  read_object(r, v, path, interface_table(), iface);
  if (!r.errors.empty()) throw ConfigInvalid(std::move(r.errors));
  iface.origin = path;
  return iface;
}

std::vector<InterfaceConfig> parse_interface_specs(const std::vector<std::string>& specs) {
  std::vector<InterfaceConfig> out;
  std::vector<ConfigError> errors;
  for (const auto& spec : specs) {
    try {
      InterfaceConfig iface = parse_interface_spec(spec);
      auto same = std::find_if(out.begin(), out.end(), [&](const InterfaceConfig& o) { return o.name == iface.name; });
      if (same != out.end()) {
        errors.push_back({iface.origin + ".name", "interface \"" + iface.name + "\" is already given by " + same->origin});
      } else {
        out.push_back(std::move(iface));
      }
    } catch (const ConfigInvalid& e) {
      errors.insert(errors.end(), e.errors().begin(), e.errors().end());
    }
  }
  if (!errors.empty()) throw ConfigInvalid(std::move(errors));
  return out;
}

void apply_interface_overrides(Config& config, const std::vector<InterfaceConfig>& overrides) {
  for (const auto& iface : overrides) {
    auto same = std::find_if(config.interfaces.begin(), config.interfaces.end(),
                             [&](const InterfaceConfig& o) { return o.name == iface.name; });
    if (same != config.interfaces.end()) {
      *same = iface;
    } else {
      config.interfaces.push_back(iface);
    }
  }
  check_config(config);
}

}  // namespace sniffer
