#include "sniffer/interface_manager.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

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

void InterfaceManager::configure(const std::vector<InterfaceConfig>& interfaces) {
  // Resolve all first: a missing interface changes nothing.
  std::map<std::string, std::uint32_t> ifindex;
  for (std::size_t i = 0; i < interfaces.size(); ++i) {
    ifindex[interfaces[i].name] = resolve_ifindex(interfaces[i].name, "interfaces[" + std::to_string(i) + "].name");
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool kept = false;
    for (const auto& c : interfaces) kept = kept || c.name == it->first;
    if (kept && ifindex[it->first] == it->second.info.ifindex) {
      ++it;
      continue;
    }
    spdlog::info("{}: no longer monitored", it->first);
    progs_.remove_interface(it->second.info.ifindex);
    table_.erase(it->second.info.ifindex);
    it = entries_.erase(it);
  }
  for (const auto& c : interfaces) {
    auto it = entries_.find(c.name);
    std::uint8_t slot = it != entries_.end() ? it->second.info.stats_slot : free_slot();
    InterfaceInfo info{c.name, ifindex[c.name], c.role, c.mode, slot};
    if (it == entries_.end()) {
      spdlog::info("{} (ifindex {}): monitored as {}, {}", c.name, info.ifindex, to_string(c.role), to_string(c.mode));
    } else if (it->second.config.role != c.role || it->second.config.mode != c.mode) {
      spdlog::info("{}: now {}, {} (was {}, {})", c.name, to_string(c.role), to_string(c.mode),
                   to_string(it->second.config.role), to_string(it->second.config.mode));
    }
    progs_.set_interface(info.ifindex, c.mode, c.role, slot);
    entries_[c.name] = Entry{c, info};
    table_[info.ifindex] = info;
  }
}

void InterfaceManager::attach() {
  // Detach what is no longer wanted (a removed interface or hook, or an XDP
  // mode that changed).
  for (auto it = attached_.begin(); it != attached_.end();) {
    const auto& [name, hook] = it->first;
    auto e = entries_.find(name);
    bool wanted = e != entries_.end() &&
                  std::find(e->second.config.hooks.begin(), e->second.config.hooks.end(), hook) !=
                      e->second.config.hooks.end() &&
                  (hook != Hook::XdpIngress || it->second.first == e->second.config.xdp_mode);
    if (wanted) {
      ++it;
      continue;
    }
    spdlog::info("{}: detached {}", name, it->second.second->describe());
    it = attached_.erase(it);
  }
  for (const auto& [name, e] : entries_) {
    for (Hook hook : e.config.hooks) {
      auto key = std::make_pair(name, hook);
      if (attached_.count(key)) continue;
      std::unique_ptr<Attachment> a;
      switch (hook) {
        case Hook::XdpIngress: a = attach_xdp(progs_.xdp_prog_fd(), e.info.ifindex, name, e.config.xdp_mode); break;
        case Hook::TcIngress: a = attach_tc(progs_.tc_ingress_prog_fd(), e.info.ifindex, name, true, tc_attach_); break;
        case Hook::TcEgress: a = attach_tc(progs_.tc_egress_prog_fd(), e.info.ifindex, name, false, tc_attach_); break;
      }
      spdlog::info("{} (ifindex {}, {}, {}): attached {}", name, e.info.ifindex, to_string(e.config.role),
                   to_string(e.config.mode), a->describe());
      attached_[key] = {e.config.xdp_mode, std::move(a)};
    }
  }
}

void InterfaceManager::detach_all() {
  attached_.clear();
  for (const auto& [name, e] : entries_) progs_.remove_interface(e.info.ifindex);
  entries_.clear();
  table_.clear();
}

}  // namespace sniffer
