#include "sniffer/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sniffer/abi.h"
#include "sniffer/block_guard.hpp"
#include "sniffer/curve_auth.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

using json = nlohmann::json;

namespace {

std::string join_errors(const std::vector<ConfigError>& errors) {
  std::ostringstream out;
  out << "invalid configuration (" << errors.size() << (errors.size() == 1 ? " problem)" : " problems)");
  for (const auto& e : errors) out << "\n  " << (e.path.empty() ? "<root>" : e.path) << ": " << e.message;
  return out.str();
}

// Walks one JSON document, collecting every problem with its path.
class Reader {
 public:
  std::vector<ConfigError> errors;

  void fail(const std::string& path, const std::string& message) { errors.push_back({path, message}); }

  // True when v is an object; reports keys that are not in `known`.
  bool object(const json& v, const std::string& path, std::initializer_list<const char*> known) {
    if (!v.is_object()) {
      fail(path, std::string("expected an object, got ") + v.type_name());
      return false;
    }
    for (const auto& item : v.items()) {
      const std::string& key = item.key();  // (clang 14 cannot capture structured bindings)
      bool found = std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; });
      if (!found) fail(join(path, key), "unknown key");
    }
    return true;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // Reads an unsigned integer in [lo, hi] when present.
  template <typename T>
  void uint(const json& obj, const std::string& path, const char* key, T& out, std::uint64_t lo,
            std::uint64_t hi) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    std::string p = join(path, key);
    std::string range = "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
    if (!v.is_number_integer()) {
      fail(p, std::string("expected an unsigned integer, got ") + v.type_name());
      return;
    }
    if (v.get<std::int64_t>() < 0 && !v.is_number_unsigned()) {
      fail(p, range + ", got " + v.dump());
      return;
    }
    auto n = v.get<std::uint64_t>();
    if (n < lo || n > hi) {
      fail(p, range + ", got " + std::to_string(n));
      return;
    }
    out = static_cast<T>(n);
  }

  void boolean(const json& obj, const std::string& path, const char* key, bool& out) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    if (!v.is_boolean()) {
      fail(join(path, key), std::string("expected true or false, got ") + v.type_name());
      return;
    }
    out = v.get<bool>();
  }

  void string(const json& obj, const std::string& path, const char* key, std::string& out) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    if (!v.is_string()) {
      fail(join(path, key), std::string("expected a string, got ") + v.type_name());
      return;
    }
    out = v.get<std::string>();
  }

  // Reads a string that must be one of the names in `choices`.
  template <typename E>
  bool choice(const json& v, const std::string& path, const std::map<std::string, E>& choices, E& out) {
    std::string allowed;
    for (const auto& [name, _] : choices) allowed += (allowed.empty() ? "" : ", ") + name;
    if (!v.is_string()) {
      fail(path, std::string("expected a string (one of ") + allowed + "), got " + v.type_name());
      return false;
    }
    auto it = choices.find(v.get<std::string>());
    if (it == choices.end()) {
      fail(path, "unknown value " + v.dump() + " (expected one of " + allowed + ")");
      return false;
    }
    out = it->second;
    return true;
  }

  void ports(const json& obj, const std::string& path, const char* key, std::vector<std::uint16_t>& out) {
    if (!obj.contains(key)) return;
    const json& v = obj.at(key);
    std::string p = join(path, key);
    if (!v.is_array()) {
      fail(p, std::string("expected an array of ports, got ") + v.type_name());
      return;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json& e = v[i];
      std::string ep = p + "[" + std::to_string(i) + "]";
      if (!e.is_number_integer() || e.get<std::int64_t>() < 1 || e.get<std::int64_t>() > 65535) {
        fail(ep, "expected a port number between 1 and 65535, got " + e.dump());
        continue;
      }
      out.push_back(static_cast<std::uint16_t>(e.get<std::uint64_t>()));
    }
  }
};

const std::map<std::string, Role> kRoles{{"wan", Role::Wan}, {"lan", Role::Lan}};
const std::map<std::string, Mode> kModes{{"host-based", Mode::HostBased}, {"gateway", Mode::Gateway}};
const std::map<std::string, XdpMode> kXdpModes{
    {"auto", XdpMode::Auto}, {"native", XdpMode::Native}, {"generic", XdpMode::Generic}};
const std::map<std::string, Hook> kHooks{
    {"xdp", Hook::XdpIngress}, {"tc_ingress", Hook::TcIngress}, {"tc_egress", Hook::TcEgress}};
const std::map<std::string, TcAttach> kTcAttach{
    {"auto", TcAttach::Auto}, {"tcx", TcAttach::Tcx}, {"clsact", TcAttach::Clsact}};
const std::map<std::string, FlowAggregation> kAggregations{{"userspace", FlowAggregation::Userspace},
                                                          {"kernel", FlowAggregation::Kernel}};
const std::map<std::string, bool> kActions{{"capture", true}, {"skip", false}};
const std::set<std::string> kLogLevels{"trace", "debug", "info", "warn", "error"};

void check_hooks(Reader& r, const std::vector<Hook>& hooks, const std::string& path) {
  std::set<Hook> seen;
  for (Hook h : hooks) {
    if (!seen.insert(h).second) r.fail(path, std::string("hook \"") + to_string(h) + "\" listed twice");
  }
  if (seen.count(Hook::XdpIngress) && seen.count(Hook::TcIngress)) {
    r.fail(path, "\"xdp\" and \"tc_ingress\" both see ingress: every packet would be counted twice");
  }
}

void read_interface(Reader& r, const json& v, const std::string& path, InterfaceConfig& out) {
  if (!r.object(v, path, {"name", "role", "mode", "xdp_mode", "hooks"})) return;
  if (!v.contains("name")) {
    r.fail(Reader::join(path, "name"), "missing (the interface name, e.g. \"eth1\")");
  } else {
    r.string(v, path, "name", out.name);
    if (v.at("name").is_string() && (out.name.empty() || out.name.size() >= 16)) {
      r.fail(Reader::join(path, "name"), "an interface name has 1 to 15 characters, got \"" + out.name + "\"");
    }
  }
  if (!v.contains("role")) {
    r.fail(Reader::join(path, "role"), "missing (\"wan\" or \"lan\")");
  } else {
    r.choice(v.at("role"), Reader::join(path, "role"), kRoles, out.role);
  }
  if (!v.contains("mode")) {
    r.fail(Reader::join(path, "mode"), "missing (\"host-based\" or \"gateway\")");
  } else {
    r.choice(v.at("mode"), Reader::join(path, "mode"), kModes, out.mode);
  }
  if (v.contains("xdp_mode")) r.choice(v.at("xdp_mode"), Reader::join(path, "xdp_mode"), kXdpModes, out.xdp_mode);
  if (v.contains("hooks")) {
    const json& hooks = v.at("hooks");
    std::string hp = Reader::join(path, "hooks");
    if (!hooks.is_array() || hooks.empty()) {
      r.fail(hp, "expected a non-empty array of hooks (\"xdp\", \"tc_ingress\", \"tc_egress\")");
    } else {
      for (std::size_t i = 0; i < hooks.size(); ++i) {
        Hook h;
        if (r.choice(hooks[i], hp + "[" + std::to_string(i) + "]", kHooks, h)) out.hooks.push_back(h);
      }
    }  // duplicates and conflicts: validate_config
  }
  if (out.hooks.empty()) out.hooks = default_hooks(out.mode);
}

// A "curve" object ({"secret_key_file", "authorized_keys_file"}) of a server
// socket at `path` (e.g. "publish.curve"). Both keys are required and both
// files are read now, so a missing file, a malformed key or a secret key file
// that group or other can read is a config error naming the file.
void read_curve(Reader& r, const json& v, const std::string& path, std::optional<CurveConfig>& out) {
  if (!r.object(v, path, {"secret_key_file", "authorized_keys_file"})) return;
  CurveConfig c;
  // Reads one required, non-empty file name; true when there is one to check.
  auto file_name = [&](const char* key, std::string& value, const char* what) {
    if (!v.contains(key)) {
      r.fail(Reader::join(path, key), std::string("missing: the path of ") + what);
      return false;
    }
    const std::size_t before = r.errors.size();
    r.string(v, path, key, value);
    if (r.errors.size() != before) return false;
    if (value.empty()) r.fail(Reader::join(path, key), "must not be empty");
    return !value.empty();
  };
  auto check = [&](const char* key, auto load) {
    try {
      (void)load();
    } catch (const Error& e) {
      r.fail(Reader::join(path, key), e.what());
    }
  };
  if (file_name("secret_key_file", c.secret_key_file, "this sensor's secret key file (sniffer keygen --out PREFIX)")) {
    check("secret_key_file", [&] { return load_secret_key_file(c.secret_key_file); });
  }
  if (file_name("authorized_keys_file", c.authorized_keys_file,
                "the file of the client public keys allowed to connect, one a line")) {
    check("authorized_keys_file", [&] { return load_authorized_keys(c.authorized_keys_file); });
  }
  out = c;
}

// A prefix string at `path`; false (and an error) when it does not parse.
bool read_prefix(Reader& r, const json& v, const std::string& path, Prefix& out) {
  if (!v.is_string()) {
    r.fail(path, std::string("expected a prefix string (\"203.0.113.0/24\", \"2001:db8::1\"), got ") + v.type_name());
    return false;
  }
  try {
    out = Prefix::parse(v.get<std::string>());
    return true;
  } catch (const Error& e) {
    r.fail(path, e.what());
    return false;
  }
}

const std::map<std::string, BlockDirection> kDirections{{"src", BlockDirection::Source},
                                                        {"dst", BlockDirection::Destination}};
const std::map<std::string, BlockAction> kBlockActions{{"drop", BlockAction::Drop}, {"count", BlockAction::Count}};

void read_blocklist(Reader& r, const json& b, BlocklistConfig& out) {
  if (!r.object(b, "blocklist", {"roles", "monitor_only", "record_dropped", "max_entries", "default_duration_s",
                                 "max_duration_s", "entries", "allow", "min_prefix_v4", "min_prefix_v6",
                                 "protected"})) {
    return;
  }
  if (b.contains("roles")) {
    const json& roles = b.at("roles");
    if (!roles.is_array()) {
      r.fail("blocklist.roles", std::string("expected an array of roles (\"wan\", \"lan\"), got ") + roles.type_name());
    } else {
      out.roles.clear();
      for (std::size_t i = 0; i < roles.size(); ++i) {
        Role role;
        if (r.choice(roles[i], "blocklist.roles[" + std::to_string(i) + "]", kRoles, role)) out.roles.push_back(role);
      }
    }
  }
  r.boolean(b, "blocklist", "monitor_only", out.monitor_only);
  r.boolean(b, "blocklist", "record_dropped", out.record_dropped);
  r.uint(b, "blocklist", "max_entries", out.max_entries, 1, 1u << 24);
  r.uint(b, "blocklist", "default_duration_s", out.default_duration_s, 1, 365u * 86400u);
  r.uint(b, "blocklist", "max_duration_s", out.max_duration_s, 1, 365u * 86400u);
  if (out.default_duration_s > out.max_duration_s) {
    r.fail("blocklist.default_duration_s", "must not exceed blocklist.max_duration_s (" +
                                               std::to_string(out.max_duration_s) + ")");
  }
  r.uint(b, "blocklist", "min_prefix_v4", out.min_prefix_v4, 0, 32);
  r.uint(b, "blocklist", "min_prefix_v6", out.min_prefix_v6, 0, 128);
  if (b.contains("protected")) {
    const json& prot = b.at("protected");
    if (!prot.is_array()) {
      r.fail("blocklist.protected", std::string("expected an array of prefixes, got ") + prot.type_name());
    } else {
      for (std::size_t i = 0; i < prot.size(); ++i) {
        Prefix p;
        if (read_prefix(r, prot[i], "blocklist.protected[" + std::to_string(i) + "]", p)) {
          out.protected_prefixes.push_back(p);
        }
      }
    }
  }
  if (b.contains("allow")) {
    const json& allow = b.at("allow");
    if (!allow.is_array()) {
      r.fail("blocklist.allow", std::string("expected an array of prefixes, got ") + allow.type_name());
    } else {
      for (std::size_t i = 0; i < allow.size(); ++i) {
        Prefix p;
        if (read_prefix(r, allow[i], "blocklist.allow[" + std::to_string(i) + "]", p)) out.allow.push_back(p);
      }
    }
  }
  if (b.contains("entries")) {
    const json& entries = b.at("entries");
    if (!entries.is_array()) {
      r.fail("blocklist.entries", std::string("expected an array of entries, got ") + entries.type_name());
      return;
    }
    std::map<std::pair<Prefix, BlockDirection>, std::size_t> seen;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string path = "blocklist.entries[" + std::to_string(i) + "]";
      const json& e = entries[i];
      if (!r.object(e, path, {"prefix", "direction", "action", "reason"})) continue;
      StaticBlockConfig entry;
      entry.path = path;
      if (!e.contains("prefix")) {
        r.fail(path + ".prefix", "missing: the prefix to block");
        continue;
      }
      if (!read_prefix(r, e.at("prefix"), path + ".prefix", entry.prefix)) continue;
      if (e.contains("direction")) r.choice(e.at("direction"), path + ".direction", kDirections, entry.direction);
      if (e.contains("action")) r.choice(e.at("action"), path + ".action", kBlockActions, entry.action);
      r.string(e, path, "reason", entry.reason);
      for (const Prefix& a : out.allow) {
        if (a.contains(entry.prefix)) {
          r.fail(path + ".prefix", entry.prefix.text() + " is inside blocklist.allow entry " + a.text() +
                                       ": it would never apply");
        }
      }
      auto [it, inserted] = seen.emplace(std::pair{entry.prefix, entry.direction}, i);
      if (!inserted) {
        r.fail(path + ".prefix", entry.prefix.text() + " (" + to_string(entry.direction) +
                                     ") is already listed at blocklist.entries[" + std::to_string(it->second) + "]");
      }
      out.entries.push_back(entry);
    }
  }
}

// The guard (min prefix lengths, protected prefixes) over the static entries,
// once the control endpoint is known. The sensor's own addresses are checked
// when the daemon applies the entries (Prevention), not here: a config file
// is valid or not whatever host reads it.
void check_blocklist_guard(Reader& r, const Config& c) {
  const BlockGuard guard = blocklist_guard(c.blocklist, c.control.endpoint);
  for (const auto& entry : c.blocklist.entries) {
    if (auto refusal = guard.check(entry.prefix)) r.fail(entry.path + ".prefix", refusal->message);
  }
}

bool valid_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= listen.size()) return false;
  const std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoul(port) <= 65535;
}

constexpr std::size_t kMaxConfigBytes = 16u << 20;

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
  Reader r;
  Config c = default_config();
  if (!r.object(doc, "", {"sensor_id", "interfaces", "capture", "filter", "flows", "publish", "metrics",
                          "blocklist", "control", "log_level", "btf_path", "pin_path", "keep_pins"})) {
    throw ConfigInvalid(std::move(r.errors));
  }
  r.string(doc, "", "sensor_id", c.sensor_id);

  if (!doc.contains("interfaces")) {
    r.fail("interfaces", "missing: list at least one interface ({\"name\", \"role\", \"mode\"})");
  } else if (!doc.at("interfaces").is_array() || doc.at("interfaces").empty()) {
    r.fail("interfaces", "expected a non-empty array of interfaces");
  } else {
    const json& list = doc.at("interfaces");
    for (std::size_t i = 0; i < list.size(); ++i) {
      InterfaceConfig iface;
      read_interface(r, list[i], "interfaces[" + std::to_string(i) + "]", iface);
      c.interfaces.push_back(std::move(iface));
    }
    // Names once, one WAN interface, the count, hooks: validate_config.
  }

  if (doc.contains("capture") && r.object(doc.at("capture"), "capture",
                                           {"ring_buffer_bytes", "payload_bytes", "wakeup_bytes", "poll_interval_ms",
                                            "tc_attach"})) {
    const json& cap = doc.at("capture");
    r.uint(cap, "capture", "ring_buffer_bytes", c.capture.ring_buffer_bytes, 4096, 1u << 30);
    r.uint(cap, "capture", "payload_bytes", c.capture.payload_bytes, 0, SNIFFER_MAX_PAYLOAD_BYTES);
    r.uint(cap, "capture", "wakeup_bytes", c.capture.wakeup_bytes, 0, 1u << 30);
    r.uint(cap, "capture", "poll_interval_ms", c.capture.poll_interval_ms, 1, 1000);
    if (cap.contains("tc_attach")) r.choice(cap.at("tc_attach"), "capture.tc_attach", kTcAttach, c.capture.tc_attach);
  }

  if (doc.contains("filter") &&
      r.object(doc.at("filter"), "filter", {"default_action", "include_ports", "exclude_ports"})) {
    const json& f = doc.at("filter");
    if (f.contains("default_action")) r.choice(f.at("default_action"), "filter.default_action", kActions, c.filter.default_capture);
    r.ports(f, "filter", "include_ports", c.filter.include_ports);
    r.ports(f, "filter", "exclude_ports", c.filter.exclude_ports);
  }

  if (doc.contains("flows") &&
      r.object(doc.at("flows"), "flows", {"enabled", "max_flows", "idle_timeout_ms", "active_timeout_ms",
                                          "tcp_close_grace_ms", "activity_timeout_ms", "aggregation",
                                          "packet_sample_one_in", "packet_ports"})) {
    const json& f = doc.at("flows");
    r.boolean(f, "flows", "enabled", c.flows.enabled);
    r.uint(f, "flows", "max_flows", c.flows.max_flows, 1, 1u << 24);
    r.uint(f, "flows", "idle_timeout_ms", c.flows.idle_timeout_ms, 1, 86400000);
    r.uint(f, "flows", "active_timeout_ms", c.flows.active_timeout_ms, 1000, 86400000);
    r.uint(f, "flows", "tcp_close_grace_ms", c.flows.tcp_close_grace_ms, 0, 86400000);
    r.uint(f, "flows", "activity_timeout_ms", c.flows.activity_timeout_ms, 1, 86400000);
    if (f.contains("aggregation")) r.choice(f.at("aggregation"), "flows.aggregation", kAggregations, c.flows.aggregation);
    r.uint(f, "flows", "packet_sample_one_in", c.flows.packet_sample_one_in, 0, 1u << 30);
    r.ports(f, "flows", "packet_ports", c.flows.packet_ports);
  }

  if (doc.contains("publish") &&
      r.object(doc.at("publish"), "publish",
               {"endpoint", "packet_events", "batch_max_events", "batch_max_latency_ms", "send_hwm", "curve"})) {
    const json& p = doc.at("publish");
    r.string(p, "publish", "endpoint", c.publish.endpoint);
    r.boolean(p, "publish", "packet_events", c.publish.packet_events);
    r.uint(p, "publish", "batch_max_events", c.publish.batch_max_events, 1, 65536);
    r.uint(p, "publish", "batch_max_latency_ms", c.publish.batch_max_latency_ms, 1, 60000);
    r.uint(p, "publish", "send_hwm", c.publish.send_hwm, 1, 1000000);
    if (p.contains("curve")) read_curve(r, p.at("curve"), "publish.curve", c.publish.curve);
  }

  if (doc.contains("metrics") &&
      r.object(doc.at("metrics"), "metrics", {"listen", "log_interval_s", "stats_interval_s"})) {
    const json& m = doc.at("metrics");
    r.string(m, "metrics", "listen", c.metrics.listen);
    if (!c.metrics.listen.empty() && !valid_listen(c.metrics.listen)) {
      r.fail("metrics.listen", "\"" + c.metrics.listen + "\" is not HOST:PORT (e.g. 127.0.0.1:9750; empty disables)");
    }
    r.uint(m, "metrics", "log_interval_s", c.metrics.log_interval_s, 0, 86400);
    r.uint(m, "metrics", "stats_interval_s", c.metrics.stats_interval_s, 0, 86400);
  }

  if (doc.contains("blocklist")) read_blocklist(r, doc.at("blocklist"), c.blocklist);

  if (doc.contains("control") &&
      r.object(doc.at("control"), "control", {"endpoint", "curve", "rate_limit_per_s", "rate_burst"})) {
    const json& ctl = doc.at("control");
    r.string(ctl, "control", "endpoint", c.control.endpoint);
    if (!c.control.endpoint.empty()) {
      std::optional<CurveConfig> curve;
      if (ctl.contains("curve")) read_curve(r, ctl.at("curve"), "control.curve", curve);  // missing: validate_config
      if (curve) c.control.curve = *curve;
    }
    r.uint(ctl, "control", "rate_limit_per_s", c.control.rate_limit_per_s, 1, 1000);
    r.uint(ctl, "control", "rate_burst", c.control.rate_burst, 1, 10000);
  }

  r.string(doc, "", "log_level", c.log_level);
  r.string(doc, "", "btf_path", c.btf_path);
  r.string(doc, "", "pin_path", c.pin_path);
  r.boolean(doc, "", "keep_pins", c.keep_pins);

  check_blocklist_guard(r, c);

  // The rules on the whole config, the same for every way in. A key the
  // reader already refused keeps its default: its one problem is the reader's.
  std::set<std::string> refused;
  for (const auto& e : r.errors) refused.insert(e.path);
  for (auto& e : validate_config(c)) {
    if (!refused.count(e.path)) r.errors.push_back(std::move(e));
  }
  if (!r.errors.empty()) throw ConfigInvalid(std::move(r.errors));
  return c;
}

BlockGuard blocklist_guard(const BlocklistConfig& b, const std::string& control_endpoint) {
  BlockGuard guard(b.min_prefix_v4, b.min_prefix_v6);
  std::vector<ProtectedPrefix> configured;
  for (std::size_t i = 0; i < b.protected_prefixes.size(); ++i) {
    configured.push_back({b.protected_prefixes[i], RefusalReason::Protected,
                          "blocklist.protected[" + std::to_string(i) + "] " + display(b.protected_prefixes[i])});
  }
  guard.set_protected(RefusalReason::Protected, std::move(configured));
  if (auto bound = endpoint_address(control_endpoint)) {
    const std::string what = "the control endpoint's address " + display(*bound);
    guard.set_protected(RefusalReason::ControlEndpoint, {{*bound, RefusalReason::ControlEndpoint, what}});
  }
  return guard;
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

Config load_config_file(const std::string& path) {
  const std::string name = "cannot read config file \"" + path + "\": ";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw ConfigInvalid({{"", name + errno_text(errno)}});
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw ConfigInvalid({{"", name + errno_text(errno)}});
  if (S_ISDIR(st.st_mode)) throw ConfigInvalid({{"", name + errno_text(EISDIR)}});
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigInvalid({{"", name + errno_text(errno)}});
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigBytes) {
      throw ConfigInvalid({{"", name + "more than " + std::to_string(kMaxConfigBytes >> 20) + " MiB"}});
    }
  }
  return parse_config(text);
}

std::vector<ConfigError> validate_config(const Config& c) {
  Reader r;
  if (c.sensor_id.empty()) r.fail("sensor_id", "must not be empty (leave it out to use the host name)");

  // Interfaces: each named once, one WAN interface (the sensor's model is one
  // uplink: flow directions would be ambiguous), any number of LAN ones.
  auto label = [&](std::size_t i) {
    const InterfaceConfig& iface = c.interfaces[i];
    if (!iface.origin.empty()) return iface.origin;
    return "interfaces[" + std::to_string(i) + "]" + (iface.name.empty() ? "" : " (\"" + iface.name + "\")");
  };
  auto path_of = [&](std::size_t i) {
    return c.interfaces[i].origin.empty() ? "interfaces[" + std::to_string(i) + "]" : c.interfaces[i].origin;
  };
  std::map<std::string, std::size_t> names;
  std::optional<std::size_t> wan;
  for (std::size_t i = 0; i < c.interfaces.size(); ++i) {
    const InterfaceConfig& iface = c.interfaces[i];
    const std::string path = path_of(i);
    if (iface.name.empty() || iface.name.size() >= IF_NAMESIZE) {
      r.fail(path + ".name", "an interface name has 1 to " + std::to_string(IF_NAMESIZE - 1) + " characters, got \"" +
                                 iface.name + "\"");
    } else if (auto [it, inserted] = names.emplace(iface.name, i); !inserted) {
      r.fail(path + ".name", "interface \"" + iface.name + "\" is already listed at " + path_of(it->second));
    }
    if (iface.role == Role::Wan && !iface.name.empty()) {
      if (wan) {
        r.fail(path + ".role", "\"wan\" is already the role of " + label(*wan) +
                                   ": a sensor has one WAN interface (LAN interfaces may be several)");
      } else {
        wan = i;
      }
    }
    if (iface.hooks.empty()) {
      r.fail(path + ".hooks", "no hooks (expected some of \"xdp\", \"tc_ingress\", \"tc_egress\")");
    } else {
      check_hooks(r, iface.hooks, path + ".hooks");
    }
  }
  if (c.interfaces.size() > SNIFFER_MAX_IFACES - 1) {
    r.fail("interfaces", "at most " + std::to_string(SNIFFER_MAX_IFACES - 1) + " interfaces, got " +
                             std::to_string(c.interfaces.size()));
  }

  const std::uint32_t rb = c.capture.ring_buffer_bytes;
  if (rb == 0 || (rb & (rb - 1)) != 0) {
    r.fail("capture.ring_buffer_bytes",
           "must be a power of two (the kernel's ring buffer rule), got " + std::to_string(rb));
  }
  if (c.capture.wakeup_bytes >= rb) {
    r.fail("capture.wakeup_bytes", "must be smaller than capture.ring_buffer_bytes (" + std::to_string(rb) +
                                       "), else the reader is woken only by its poll timer");
  }

  std::set<std::uint16_t> inc(c.filter.include_ports.begin(), c.filter.include_ports.end());
  for (auto p : c.filter.exclude_ports) {
    if (inc.count(p)) r.fail("filter.exclude_ports", "port " + std::to_string(p) + " is also in include_ports");
  }
  if (c.filter.include_ports.size() + c.filter.exclude_ports.size() > SNIFFER_MAX_PORT_FILTERS) {
    r.fail("filter", "at most " + std::to_string(SNIFFER_MAX_PORT_FILTERS) + " port rules");
  }
  // flows.packet_ports share the port_filters map with the filter's rules.
  std::set<std::uint16_t> all = inc;
  all.insert(c.filter.exclude_ports.begin(), c.filter.exclude_ports.end());
  all.insert(c.flows.packet_ports.begin(), c.flows.packet_ports.end());
  if (all.size() > SNIFFER_MAX_PORT_FILTERS) {
    r.fail("flows.packet_ports", "with filter.include_ports and exclude_ports, at most " +
                                     std::to_string(SNIFFER_MAX_PORT_FILTERS) + " distinct ports");
  }

  if (auto why = bind_endpoint_problem(c.publish.endpoint); !why.empty()) r.fail("publish.endpoint", why);
  if (!c.control.endpoint.empty()) {
    if (auto why = bind_endpoint_problem(c.control.endpoint); !why.empty()) {
      r.fail("control.endpoint", why + "; empty: no control socket");
    } else if (c.control.endpoint == c.publish.endpoint) {
      r.fail("control.endpoint", "is publish.endpoint: the control socket needs its own");
    }
    if (c.control.curve.secret_key_file.empty() || c.control.curve.authorized_keys_file.empty()) {
      r.fail("control.curve", "missing: the control socket changes what the gateway drops, so only "
                              "CURVE-authenticated clients may use it ({\"secret_key_file\", \"authorized_keys_file\"})");
    }
  }

  if (!kLogLevels.count(c.log_level)) {
    r.fail("log_level", "unknown level \"" + c.log_level + "\" (trace, debug, info, warn, error)");
  }
  if (!c.pin_path.empty() && c.pin_path.rfind("/sys/fs/bpf/", 0) != 0) {
    r.fail("pin_path", "\"" + c.pin_path + "\" is not under /sys/fs/bpf/ (empty disables pinning)");
  }
  return std::move(r.errors);
}

void check_config(const Config& config) {
  auto errors = validate_config(config);
  if (!errors.empty()) throw ConfigInvalid(std::move(errors));
}

std::string bind_endpoint_problem(const std::string& e) {
  const std::string quoted = "\"" + e + "\"";
  if (e.rfind("tcp://", 0) == 0) {
    const std::string rest = e.substr(6);
    std::string host, port;
    if (!rest.empty() && rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return quoted + ": expected tcp://[IPv6 ADDRESS]:PORT";
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
      in6_addr a6{};
      if (inet_pton(AF_INET6, host.substr(0, host.find('%')).c_str(), &a6) != 1) {
        return quoted + ": \"" + host + "\" is not an IPv6 address";
      }
    } else {
      auto colon = rest.rfind(':');
      if (colon == std::string::npos) return quoted + " has no port (tcp://ADDRESS:PORT, e.g. tcp://127.0.0.1:5556)";
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (host.empty()) return quoted + " has no address (tcp://ADDRESS:PORT; * binds every address)";
      if (host.find(':') != std::string::npos) {
        return quoted + ": an IPv6 address is written in brackets, e.g. tcp://[::1]:PORT";
      }
      in_addr a4{};
      if (host != "*" && inet_pton(AF_INET, host.c_str(), &a4) != 1 &&
          (host.size() >= IF_NAMESIZE || if_nametoindex(host.c_str()) == 0)) {
        return quoted + ": \"" + host + "\" is neither an IP address nor an interface of this host: use 127.0.0.1, "
               "[::1] or * (every address); ZeroMQ binds to an address or interface, not a host name";
      }
    }
    if (port == "*" || port == "0") {
      return quoted + ": an ephemeral port (" + port + ") would not be known to subscribers: give a port 1-65535";
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) < 1 || std::stoul(port) > 65535) {
      return quoted + ": port \"" + port + "\" is not a number between 1 and 65535";
    }
    return {};
  }
  if (e.rfind("ipc://", 0) == 0) {
    const std::string path = e.substr(6);
    if (path.empty()) return quoted + " has no path (e.g. ipc:///run/sniffer/events.sock)";
    constexpr std::size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
    if (path.size() > kMaxPath) {
      return quoted + ": the path has " + std::to_string(path.size()) + " characters, more than a Unix socket's " +
             std::to_string(kMaxPath);
    }
    if (path.front() == '@') return {};  // Linux abstract namespace: no file
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      const int err = errno;
      return quoted + ": its directory \"" + dir + "\" " +
             (err == ENOENT ? std::string("does not exist") : "cannot be used: " + errno_text(err));
    }
    if (!S_ISDIR(st.st_mode)) return quoted + ": \"" + dir + "\" is not a directory";
    return {};
  }
  if (e.rfind("inproc://", 0) == 0 && e.size() > 9) return {};
  return quoted + " is not a ZeroMQ endpoint (tcp://ADDRESS:PORT, ipc://PATH)";
}

InterfaceConfig parse_interface_spec(const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  std::string path = "--interface " + spec;
  if (parts.size() != 3) throw ConfigInvalid({{path, "expected NAME:ROLE:MODE, e.g. eth0:wan:gateway"}});
  json v = {{"name", parts[0]}, {"role", parts[1]}, {"mode", parts[2]}};
  Reader r;
  InterfaceConfig iface;
  read_interface(r, v, path, iface);
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

json config_to_json(const Config& c) {
  json ifaces = json::array();
  for (const auto& i : c.interfaces) {
    json hooks = json::array();
    for (Hook h : i.hooks) hooks.push_back(to_string(h));
    ifaces.push_back({{"name", i.name},
                      {"role", to_string(i.role)},
                      {"mode", to_string(i.mode)},
                      {"xdp_mode", to_string(i.xdp_mode)},
                      {"hooks", hooks}});
  }
  json publish{{"endpoint", c.publish.endpoint},
               {"packet_events", c.publish.packet_events},
               {"batch_max_events", c.publish.batch_max_events},
               {"batch_max_latency_ms", c.publish.batch_max_latency_ms},
               {"send_hwm", c.publish.send_hwm}};
  if (c.publish.curve) {  // absent: plaintext
    publish["curve"] = {{"secret_key_file", c.publish.curve->secret_key_file},
                        {"authorized_keys_file", c.publish.curve->authorized_keys_file}};
  }
  json roles = json::array(), allow = json::array(), entries = json::array();
  for (Role role : c.blocklist.roles) roles.push_back(to_string(role));
  for (const Prefix& p : c.blocklist.allow) allow.push_back(p.text());
  json protected_prefixes = json::array();
  for (const Prefix& p : c.blocklist.protected_prefixes) protected_prefixes.push_back(p.text());
  for (const auto& e : c.blocklist.entries) {
    entries.push_back({{"prefix", e.prefix.text()},
                       {"direction", to_string(e.direction)},
                       {"action", to_string(e.action)},
                       {"reason", e.reason}});
  }
  json control{{"endpoint", c.control.endpoint},
               {"rate_limit_per_s", c.control.rate_limit_per_s},
               {"rate_burst", c.control.rate_burst}};
  if (!c.control.endpoint.empty()) {
    control["curve"] = {{"secret_key_file", c.control.curve.secret_key_file},
                        {"authorized_keys_file", c.control.curve.authorized_keys_file}};
  }
  return {{"sensor_id", c.sensor_id},
          {"interfaces", ifaces},
          {"capture",
           {{"ring_buffer_bytes", c.capture.ring_buffer_bytes},
            {"payload_bytes", c.capture.payload_bytes},
            {"wakeup_bytes", c.capture.wakeup_bytes},
            {"poll_interval_ms", c.capture.poll_interval_ms},
            {"tc_attach", to_string(c.capture.tc_attach)}}},
          {"filter",
           {{"default_action", c.filter.default_capture ? "capture" : "skip"},
            {"include_ports", c.filter.include_ports},
            {"exclude_ports", c.filter.exclude_ports}}},
          {"flows",
           {{"enabled", c.flows.enabled},
            {"max_flows", c.flows.max_flows},
            {"idle_timeout_ms", c.flows.idle_timeout_ms},
            {"active_timeout_ms", c.flows.active_timeout_ms},
            {"tcp_close_grace_ms", c.flows.tcp_close_grace_ms},
            {"activity_timeout_ms", c.flows.activity_timeout_ms},
            {"aggregation", to_string(c.flows.aggregation)},
            {"packet_sample_one_in", c.flows.packet_sample_one_in},
            {"packet_ports", c.flows.packet_ports}}},
          {"publish", publish},
          {"blocklist",
           {{"roles", roles},
            {"monitor_only", c.blocklist.monitor_only},
            {"record_dropped", c.blocklist.record_dropped},
            {"max_entries", c.blocklist.max_entries},
            {"default_duration_s", c.blocklist.default_duration_s},
            {"max_duration_s", c.blocklist.max_duration_s},
            {"entries", entries},
            {"allow", allow},
            {"min_prefix_v4", c.blocklist.min_prefix_v4},
            {"min_prefix_v6", c.blocklist.min_prefix_v6},
            {"protected", protected_prefixes}}},
          {"control", control},
          {"metrics",
           {{"listen", c.metrics.listen},
            {"log_interval_s", c.metrics.log_interval_s},
            {"stats_interval_s", c.metrics.stats_interval_s}}},
          {"log_level", c.log_level},
          {"btf_path", c.btf_path},
          {"pin_path", c.pin_path},
          {"keep_pins", c.keep_pins}};
}

const char* to_string(Role role) { return role == Role::Wan ? "wan" : "lan"; }
const char* to_string(Mode mode) { return mode == Mode::HostBased ? "host-based" : "gateway"; }
const char* to_string(XdpMode mode) {
  switch (mode) {
    case XdpMode::Native: return "native";
    case XdpMode::Generic: return "generic";
    default: return "auto";
  }
}
const char* to_string(FlowAggregation aggregation) {
  return aggregation == FlowAggregation::Kernel ? "kernel" : "userspace";
}
const char* to_string(TcAttach method) {
  switch (method) {
    case TcAttach::Tcx: return "tcx";
    case TcAttach::Clsact: return "clsact";
    default: return "auto";
  }
}
const char* to_string(Hook hook) {
  switch (hook) {
    case Hook::TcIngress: return "tc_ingress";
    case Hook::TcEgress: return "tc_egress";
    default: return "xdp";
  }
}

}  // namespace sniffer
