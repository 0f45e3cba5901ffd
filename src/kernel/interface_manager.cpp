#include "sniffer/interface_manager.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

std::string describe_state(const LinkEvent& link) {
  return std::string(link.admin_up() ? "admin up" : "admin down") + ", " +
         (link.link_up() ? "running" : "not running") + ", operstate " + operstate_name(link.operstate);
}

bool same(const InterfaceTable& a, const InterfaceTable& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [ifindex, x] : a) {
    auto it = b.find(ifindex);
    if (it == b.end()) return false;
    const InterfaceInfo& y = it->second;
    if (x.name != y.name || x.role != y.role || x.mode != y.mode || x.stats_slot != y.stats_slot) return false;
  }
  return true;
}

}  // namespace

InterfaceManager::~InterfaceManager() {
  try {
    detach_all();
  } catch (const std::exception& e) {
    spdlog::warn("detach: {}", e.what());
  }
}

std::uint8_t InterfaceManager::free_slot() const {
  std::set<std::uint8_t> used;
  for (const auto& [name, e] : entries_) used.insert(e.info.stats_slot);
  for (std::uint8_t s = 1; s < SNIFFER_MAX_IFACES; ++s) {
    if (!used.count(s)) return s;
  }
  throw Error("no free counter slot (at most " + std::to_string(SNIFFER_MAX_IFACES - 1) + " interfaces)");
}

void InterfaceManager::rebuild_table() {
  InterfaceTable next;
  for (const auto& [name, e] : entries_) {
    if (e.retired_ifindex != 0) {
      InterfaceInfo old = e.info;
      old.ifindex = e.retired_ifindex;
      next[old.ifindex] = old;
    }
  }
  for (const auto& [name, e] : entries_) {  // a present interface wins over a retired ifindex
    if (e.present) next[e.info.ifindex] = e.info;
  }
  table_changed_ = table_changed_ || !same(next, table_);
  table_ = std::move(next);
}

std::map<std::string, std::optional<LinkEvent>> InterfaceManager::resolve(
    const std::vector<InterfaceConfig>& interfaces) const {
  std::map<std::string, std::optional<LinkEvent>> links;
  for (std::size_t i = 0; i < interfaces.size(); ++i) {
    const std::string& name = interfaces[i].name;
    std::optional<LinkEvent> link = query_link(name);
    if (!link && !entries_.count(name)) {
      const std::string path = "interfaces[" + std::to_string(i) + "].name";
      try {
        resolve_ifindex(name, path);  // throws the error naming it
      } catch (const Error& e) {
        throw InterfaceUnavailable(e.what());
      }
      link = query_link(name);  // it appeared in between
      if (!link) throw InterfaceUnavailable("interface \"" + name + "\" (" + path + "): vanished while being resolved");
    }
    links[name] = link;
  }
  return links;
}

void InterfaceManager::check(const std::vector<InterfaceConfig>& interfaces) const { (void)resolve(interfaces); }

void InterfaceManager::configure(const std::vector<InterfaceConfig>& interfaces) {
  // Resolve all first: a missing interface not monitored yet changes nothing.
  std::map<std::string, std::optional<LinkEvent>> links = resolve(interfaces);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (links.count(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("{}: no longer monitored", it->first);
    if (it->second.present) progs_.remove_interface(it->second.info.ifindex);
    it = entries_.erase(it);  // attach() detaches its hooks
  }
  for (const auto& c : interfaces) {
    const std::optional<LinkEvent>& link = links[c.name];
    auto it = entries_.find(c.name);
    if (it == entries_.end()) {
      Entry e{c, InterfaceInfo{c.name, link->ifindex, c.role, c.mode, free_slot()}};
      e.info.stats_baseline = progs_.read_counters().slots[e.info.stats_slot];
      e.up = link->link_up();
      spdlog::info("{} (ifindex {}): monitored as {}, {}", c.name, e.info.ifindex, to_string(c.role),
                   to_string(c.mode));
      if (!e.up) spdlog::warn("{} (ifindex {}): link is down ({})", c.name, e.info.ifindex, describe_state(*link));
      progs_.set_interface(e.info.ifindex, c.mode, c.role, e.info.stats_slot, blocklist_for(c.role));
      entries_.emplace(c.name, std::move(e));
      continue;
    }
    Entry& e = it->second;
    if (e.config.role != c.role || e.config.mode != c.mode) {
      spdlog::info("{}: now {}, {} (was {}, {})", c.name, to_string(c.role), to_string(c.mode),
                   to_string(e.config.role), to_string(e.config.mode));
    }
    e.config = c;
    e.info.role = c.role;
    e.info.mode = c.mode;
    if (e.present && (!link || link->ifindex != e.info.ifindex)) {
      lost(c.name, e, link ? "replaced by ifindex " + std::to_string(link->ifindex) : std::string("gone"));
    }
    if (!link) {
      spdlog::warn("{}: absent; it stays configured and is attached when it appears", c.name);
    } else if (!e.present) {
      appeared(c.name, e, *link, false);  // attach() follows
    } else {
      progs_.set_interface(e.info.ifindex, c.mode, c.role, e.info.stats_slot, blocklist_for(c.role));
    }
  }
  rebuild_table();
}

bool InterfaceManager::blocklist_for(Role role) const {
  return std::find(blocklist_roles_.begin(), blocklist_roles_.end(), role) != blocklist_roles_.end();
}

void InterfaceManager::set_blocklist_roles(const std::vector<Role>& roles) {
  blocklist_roles_ = roles;
  for (auto& [name, e] : entries_) {
    if (!e.present) continue;
    progs_.set_interface(e.info.ifindex, e.config.mode, e.config.role, e.info.stats_slot,
                         blocklist_for(e.config.role));
  }
}

void InterfaceManager::detach_all() {
  attached_.clear();
  for (const auto& [name, e] : entries_) {
    if (e.present) progs_.remove_interface(e.info.ifindex);
  }
  entries_.clear();
  table_.clear();
}

void InterfaceManager::lost(const std::string& name, Entry& e, const std::string& why) {
  spdlog::warn("{} (ifindex {}): {}: its hooks are gone; it stays configured and is re-attached when it comes back",
               name, e.info.ifindex, why);
  for (auto it = attached_.begin(); it != attached_.end();) {
    it = it->first.first == name ? attached_.erase(it) : std::next(it);
  }
  try {
    progs_.remove_interface(e.info.ifindex);
  } catch (const std::exception& ex) {
    spdlog::warn("{}: {}", name, ex.what());
  }
  if (e.up) ++e.counters.down;  // it was up until it went
  e.up = false;
  e.present = false;
  e.reattach_pending = false;
  e.hooks_missing = 0;
  e.xdp_kept.reset();  // a new interface of that name gets the configured mode first
  e.retired_ifindex = e.info.ifindex;
  ++e.counters.lost;
  rebuild_table();
}

void InterfaceManager::appeared(const std::string& name, Entry& e, const LinkEvent& link, bool attach_now) {
  spdlog::warn("{} (ifindex {}): back (was ifindex {}; {}); re-attaching as {}, {}", name, link.ifindex,
               e.info.ifindex, describe_state(link), to_string(e.config.role), to_string(e.config.mode));
  e.info.ifindex = link.ifindex;
  e.present = true;
  e.up = link.link_up();
  e.reattach_pending = true;
  try {
    progs_.set_interface(e.info.ifindex, e.config.mode, e.config.role, e.info.stats_slot,
                         blocklist_for(e.config.role));
  } catch (const std::exception& ex) {
    spdlog::error("{}: {}", name, ex.what());
  }
  rebuild_table();
  if (!attach_now) return;
  try {
    attach_entry(name, e, false);
  } catch (const std::exception& ex) {
    ++e.counters.reattach_errors;
    spdlog::error("{} (ifindex {}): re-attach failed: {}; tried again after 1, 2, 4 ... 30 s and at SIGHUP", name,
                  e.info.ifindex, ex.what());
  }
}

void InterfaceManager::link_state(const std::string& name, Entry& e, const LinkEvent& link) {
  const bool up = link.link_up();
  if (up == e.up) return;
  e.up = up;
  ++(up ? e.counters.up : e.counters.down);
  spdlog::info("{} (ifindex {}): link {} ({}); hooks stay attached", name, e.info.ifindex, up ? "up" : "down",
               describe_state(link));
}

void InterfaceManager::on_link(const LinkEvent& link) {
  // The present interface that has this ifindex, if any.
  auto by_index = std::find_if(entries_.begin(), entries_.end(), [&](const auto& kv) {
    return kv.second.present && kv.second.info.ifindex == link.ifindex;
  });
  if (link.kind == LinkEvent::Kind::Deleted) {
    if (by_index != entries_.end()) lost(by_index->first, by_index->second, "deleted");
    return;
  }
  if (by_index != entries_.end() && !link.name.empty() && link.name != by_index->first) {
    lost(by_index->first, by_index->second, "renamed to \"" + link.name + "\"");
  }
  auto it = entries_.find(link.name);
  if (it == entries_.end()) return;  // not one of ours
  Entry& e = it->second;
  if (e.present && e.info.ifindex != link.ifindex) {
    lost(it->first, e, "replaced by ifindex " + std::to_string(link.ifindex));
  }
  if (!e.present) {
    appeared(it->first, e, link, true);
  } else {
    link_state(it->first, e, link);
  }
}

void InterfaceManager::resync() {
  ++resyncs_;
  for (auto& [name, e] : entries_) {
    std::optional<LinkEvent> link = query_link(name);
    if (e.present && (!link || link->ifindex != e.info.ifindex)) {
      lost(name, e, link ? "replaced by ifindex " + std::to_string(link->ifindex) : std::string("gone"));
    }
    if (!link) continue;
    if (!e.present) {
      appeared(name, e, *link, true);
    } else {
      link_state(name, e, *link);
    }
  }
}

bool InterfaceManager::apply(const LinkChanges& changes) {
  table_changed_ = false;
  try {
    if (changes.overrun) {
      // The events read are older than what a re-sync sees now: it replaces them.
      spdlog::warn("netlink: link events lost (receive buffer overrun): re-resolving every configured interface");
      resync();
    } else {
      for (const LinkEvent& link : changes.links) on_link(link);
    }
  } catch (const std::exception& ex) {
    spdlog::error("link event: {}", ex.what());
  }
  return table_changed_;
}

std::map<std::string, LinkCounters> InterfaceManager::link_counters() const {
  std::map<std::string, LinkCounters> links;
  for (const auto& [name, e] : entries_) {
    links[name] = LinkCounters{.present = e.present,
                               .up = e.up,
                               .ifindex = e.info.ifindex,
                               .link_down = e.counters.down,
                               .link_up = e.counters.up,
                               .lost = e.counters.lost,
                               .reattached = e.counters.reattached,
                               .reattach_errors = e.counters.reattach_errors,
                               .hooks_missing = e.hooks_missing,
                               .hooks_detached = e.counters.hooks_detached};
  }
  return links;
}

}  // namespace sniffer
