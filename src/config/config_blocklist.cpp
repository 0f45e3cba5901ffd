// The blocklist section's rows, its rules across keys, and the guard the
// config defines for every block.
#include <map>

#include "sniffer/block_guard.hpp"
#include "sniffer/config_schema.hpp"

namespace sniffer {

using json = nlohmann::json;

namespace {

const ConfigTable<StaticBlockConfig>& entry_table() {
  static const ConfigTable<StaticBlockConfig> table{{
      ConfigKey<StaticBlockConfig>{
          "prefix", "prefix", "the block: an address or a prefix (`203.0.113.0/24`, `2001:db8::1`)",
          [](ConfigReader& r, const json& v, const std::string& path, StaticBlockConfig& e) {
            return r.prefix(v, path, e.prefix);
          },
          [](const StaticBlockConfig& e, json& o) { o["prefix"] = e.prefix.text(); }}
          .required("missing: the prefix to block"),
      choice_key("direction", &StaticBlockConfig::direction, kBlockDirectionNames,
                 "which address of a packet the prefix matches: its source or its destination"),
      choice_key("action", &StaticBlockConfig::action, kBlockActionNames,
                 "drop the packet, or only count and mark it (verdict `monitored`)"),
      string_key("reason", &StaticBlockConfig::reason, "shown by `sniffer block list`"),
  }};
  return table;
}

ConfigKey<BlocklistConfig> entries_key() {
  ConfigKey<BlocklistConfig> key{
      "entries", "array of objects",
      "static entries (never expire); a prefix the allowlist covers, or listed twice, is an error; so is an entry "
      "the guard refuses (see \"Blocks that cannot lock the operator out\")",
      [](ConfigReader& r, const json& v, const std::string& path, BlocklistConfig& b) {
        if (!v.is_array()) {
          r.fail(path, std::string("expected an array of entries, got ") + v.type_name());
          return false;
        }
        for (std::size_t i = 0; i < v.size(); ++i) {
          StaticBlockConfig entry;
          entry.path = ConfigReader::item(path, i);
          // An entry without a valid prefix is left out (its other keys unread).
          if (read_object(r, v[i], entry.path, entry_table(), entry, /*stop_at_required=*/true) == ObjectRead::Read) {
            b.entries.push_back(entry);
          }
        }
        return true;
      },
      [](const BlocklistConfig& b, json& o) {
        json list = json::array();
        for (const auto& e : b.entries) list.push_back(write_object(entry_table(), e));
        o["entries"] = list;
      }};
  key.nested = [](const std::string& path, std::vector<ReferenceLine>& lines) {
    describe(entry_table(), StaticBlockConfig{}, path + "[]", lines);
  };
  return key;
}

ConfigKey<BlocklistConfig> roles_key() {
  return ConfigKey<BlocklistConfig>{
      "roles", "array of " + choice_type(kRoleNames),
      "ingress (XDP, TC ingress) of interfaces with these roles is checked against the blocklist",
      [](ConfigReader& r, const json& v, const std::string& path, BlocklistConfig& b) {
        std::vector<Role> roles;
        if (!r.choices(v, path, kRoleNames, "roles", roles)) return false;
        b.roles = roles;
        return true;
      },
      [](const BlocklistConfig& b, json& o) {
        json roles = json::array();
        for (Role role : b.roles) roles.push_back(to_string(role));
        o["roles"] = roles;
      }};
}

// Rules across the blocklist's keys: durations, and each static entry
// against the allowlist and the entries before it.
void check_blocklist(ConfigReader& r, const std::string& path, BlocklistConfig& b) {
  if (b.default_duration_s > b.max_duration_s) {
    r.fail(ConfigReader::join(path, "default_duration_s"),
           "must not exceed blocklist.max_duration_s (" + std::to_string(b.max_duration_s) + ")");
  }
  if (!b.state_file.empty() && (b.state_file.front() != '/' || b.state_file.back() == '/')) {
    r.fail(ConfigReader::join(path, "state_file"), "must be an absolute file path, or \"\" (not kept)");
  }
  std::map<std::pair<Prefix, BlockDirection>, const StaticBlockConfig*> seen;
  for (const auto& entry : b.entries) {
    for (const Prefix& a : b.allow) {
      if (a.contains(entry.prefix)) {
        r.fail(entry.path + ".prefix", entry.prefix.text() + " is inside blocklist.allow entry " + a.text() +
                                           ": it would never apply");
      }
    }
    auto [it, inserted] = seen.emplace(std::pair{entry.prefix, entry.direction}, &entry);
    if (!inserted) {
      r.fail(entry.path + ".prefix", entry.prefix.text() + " (" + to_string(entry.direction) +
                                         ") is already listed at " + it->second->path);
    }
  }
}

}  // namespace

const ConfigTable<BlocklistConfig>& blocklist_table() {
  static const ConfigTable<BlocklistConfig> table{
      {
          roles_key(),
          bool_key("monitor_only", &BlocklistConfig::monitor_only,
                   "every entry only counts and marks its packets (verdict `monitored`), none drops"),
          bool_key("record_dropped", &BlocklistConfig::record_dropped,
                   "a dropped packet still yields an event (verdict `blocked`); `false`: counted in "
                   "`blocked_unrecorded` only"),
          uint_key("max_entries", &BlocklistConfig::max_entries, 1, 1u << 24,
                   "entries per LPM trie (IPv4/IPv6 x source/destination, and the allowlist); a full trie is an "
                   "error reply; restart to change"),
          uint_key("default_duration_s", &BlocklistConfig::default_duration_s, 1, 365u * 86400u,
                   "a control-socket block that gives no duration lasts this long"),
          uint_key("max_duration_s", &BlocklistConfig::max_duration_s, 1, 365u * 86400u,
                   "the longest block the control socket accepts"),
          entries_key(),
          prefixes_key("allow", &BlocklistConfig::allow,
                       "never blocked, as source or destination: the allowlist always wins (management networks, "
                       "the detectors)"),
          uint_key("min_prefix_v4", &BlocklistConfig::min_prefix_v4, 0, 32,
                   "no IPv4 block (static or control) broader than this; 0: none. A /16 is the largest network one "
                   "organisation commonly holds; a /8 or 0.0.0.0/0 is never one attacker"),
          uint_key("min_prefix_v6", &BlocklistConfig::min_prefix_v6, 0, 128,
                   "likewise for IPv6: a /32 is a whole provider's allocation (a site is a /48, a LAN a /64)"),
          prefixes_key("protected", &BlocklistConfig::protected_prefixes,
                       "no block may overlap these (contain them or lie inside them): the management networks. "
                       "Always protected besides: the sensor's own addresses, the address `control.endpoint` "
                       "binds, and every control client's address"),
          string_key("state_file", &BlocklistConfig::state_file,
                     "with `control.endpoint`: the blocks added over the control socket, rewritten after every "
                     "change (by a thread of its own) and restored at start (see \"Blocks across restarts\"); one sensor per file; `\"\"`: not kept. "
                     "Restart to change"),
      },
      check_blocklist};
  return table;
}

void check_blocklist_guard(ConfigReader& r, const Config& c) {
  const BlockGuard guard = blocklist_guard(c.blocklist, c.control.endpoint);
  for (const auto& entry : c.blocklist.entries) {
    if (auto refusal = guard.check(entry.prefix)) r.fail(entry.path + ".prefix", refusal->message);
  }
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

}  // namespace sniffer
