// BpfPrograms' writers of the configuration maps: iface_configs (with the
// programs' direct-mapped copy of it, abi.h SNIFFER_IFACE_CACHE_SLOTS),
// filter_settings and port_filters. The only writers of those maps: the
// programs trust their copies to change only here.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>
#include <vector>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/error.hpp"
#include "sniffer_bpf.skel.h"

namespace sniffer {

namespace {

std::uint8_t abi_mode(Mode mode) {
  return mode == Mode::HostBased ? SNIFFER_MODE_HOST_BASED : SNIFFER_MODE_GATEWAY;
}

}  // namespace

void BpfPrograms::set_interface(std::uint32_t ifindex, Mode mode, Role role, std::uint8_t stats_slot,
                                bool blocklist) {
  if (stats_slot == 0 || stats_slot >= SNIFFER_MAX_IFACES) {
    throw Error("iface_configs: stats slot " + std::to_string(stats_slot) + " out of range");
  }
  sniffer_iface_config value{};
  value.ifindex = ifindex;
  value.stats_slot = stats_slot;
  value.mode = abi_mode(mode);
  value.is_wan_facing = role == Role::Wan ? 1 : 0;
  value.blocklist = blocklist ? 1 : 0;
  int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.iface_configs), &ifindex, &value, BPF_ANY);
  if (err) throw Error("iface_configs: set ifindex " + std::to_string(ifindex) + ": " + errno_text(errno));
  // Then the programs' copy (abi.h, SNIFFER_IFACE_CACHE_SLOTS), whole in one store.
  auto* cached = &skel_->bss->iface_cache[ifindex % SNIFFER_IFACE_CACHE_SLOTS];
  std::remove_reference_t<decltype(*cached)> word;
  static_assert(sizeof word == sizeof value);
  std::memcpy(&word, &value, sizeof word);
  __atomic_store_n(cached, word, __ATOMIC_RELEASE);
}

void BpfPrograms::remove_interface(std::uint32_t ifindex) {
  // The programs' copy first (if its slot holds this interface), then the entry.
  auto* cached = &skel_->bss->iface_cache[ifindex % SNIFFER_IFACE_CACHE_SLOTS];
  auto word = __atomic_load_n(cached, __ATOMIC_ACQUIRE);
  sniffer_iface_config entry;
  std::memcpy(&entry, &word, sizeof entry);
  if (word != 0 && entry.ifindex == ifindex) {
    __atomic_compare_exchange_n(cached, &word, decltype(word){0}, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  int err = bpf_map_delete_elem(bpf_map__fd(skel_->maps.iface_configs), &ifindex);
  if (err && errno != ENOENT) {
    throw Error("iface_configs: remove ifindex " + std::to_string(ifindex) + ": " + errno_text(errno));
  }
}

void BpfPrograms::set_filter(const FilterConfig& filter, const std::vector<std::uint16_t>& record_ports) {
  int ports_fd = bpf_map__fd(skel_->maps.port_filters);
  std::map<__u16, __u8> rules;  // port -> SNIFFER_PORT_* bits
  for (auto p : filter.include_ports) rules[p] |= SNIFFER_PORT_INCLUDE;
  for (auto p : filter.exclude_ports) rules[p] |= SNIFFER_PORT_EXCLUDE;
  for (auto p : record_ports) rules[p] |= SNIFFER_PORT_RECORD;
  std::set<__u16> wanted;
  for (const auto& [port, rule] : rules) {
    __u16 key = port;
    if (bpf_map_update_elem(ports_fd, &key, &rule, BPF_ANY)) {
      throw Error("port_filters: set port " + std::to_string(port) + ": " + errno_text(errno));
    }
    wanted.insert(key);
  }

  // Remove rules that are no longer configured.
  std::vector<__u16> stale;
  __u16 key = 0, next = 0;
  __u16* cur = nullptr;
  while (bpf_map_get_next_key(ports_fd, cur, &next) == 0) {
    if (!wanted.count(next)) stale.push_back(next);
    key = next;
    cur = &key;
  }
  for (auto k : stale) bpf_map_delete_elem(ports_fd, &k);

  // Written last: a port's bit is set once its rule is in port_filters (a
  // bit without a rule costs a lookup that finds nothing, a rule without its
  // bit would be skipped), and cleared only after its rule is gone.
  sniffer_filter_settings settings{};
  settings.default_action = filter.default_capture ? SNIFFER_ACTION_CAPTURE : SNIFFER_ACTION_SKIP;
  settings.has_port_rules = wanted.empty() ? 0 : 1;
  for (__u16 port : wanted) settings.port_bits[port / 64] |= std::uint64_t{1} << (port % 64);
  __u32 zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.filter_settings), &zero, &settings, BPF_ANY)) {
    throw Error("filter_settings: update: " + errno_text(errno));
  }
}

}  // namespace sniffer
