#include "sniffer/blocklist.hpp"

#include <bpf/bpf.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "lpm_key.hpp"
#include "sniffer/abi.h"

namespace sniffer {

namespace {

// A rule's value in the kernel's trie (hits from zero).
sniffer_block_entry kernel_entry(const BlockRule& rule) {
  sniffer_block_entry value{};
  value.expires_ns = rule.expires_mono_ns;
  value.rule_id = rule.id;
  value.action = rule.action == BlockAction::Drop ? SNIFFER_BLOCK_DROP : SNIFFER_BLOCK_COUNT;
  return value;
}

}  // namespace

Blocklist::Blocklist(BpfPrograms& progs) : progs_(progs) { set_settings(false, true); }

void Blocklist::set_settings(bool monitor_only, bool record_dropped) {
  monitor_only_ = monitor_only;
  record_dropped_ = record_dropped;
  update_dst_flag();
}

void Blocklist::update_dst_flag() {
  sniffer_block_settings s{};
  s.monitor_only = monitor_only_ ? 1 : 0;
  s.record_dropped = record_dropped_ ? 1 : 0;
  s.has_dst_rules = dst_rules() ? 1 : 0;
  s.active = rules_.empty() ? 0 : 1;
  __u32 zero = 0;
  if (bpf_map_update_elem(progs_.block_settings_map_fd(), &zero, &s, BPF_ANY)) {
    throw Error("block_settings: update: " + errno_text(errno));
  }
}

int Blocklist::allow_fd(const Prefix& p) const {
  return progs_.lpm_map_fd(p.family == AF_INET ? LpmMap::AllowV4 : LpmMap::AllowV6);
}

std::size_t Blocklist::trie_index(const Prefix& p, BlockDirection d) {
  return (p.family == AF_INET ? 0 : 1) + (d == BlockDirection::Source ? 0 : 2);
}

void Blocklist::throw_full() const {
  throw BlocklistError(BlocklistError::Kind::Full, "blocklist full: " + std::to_string(capacity()) +
                                                       " entries per family and direction (blocklist.max_entries)");
}

int Blocklist::map_fd(const Prefix& p, BlockDirection d) const {
  const bool v4 = p.family == AF_INET;
  if (d == BlockDirection::Source) return progs_.lpm_map_fd(v4 ? LpmMap::BlockSrcV4 : LpmMap::BlockSrcV6);
  return progs_.lpm_map_fd(v4 ? LpmMap::BlockDstV4 : LpmMap::BlockDstV6);
}

void Blocklist::set_allowlist(const std::vector<Prefix>& prefixes) {
  for (const Prefix& p : allow_) {
    LpmKey key(p);
    bpf_map_delete_elem(allow_fd(p), key.data());
  }
  allow_.clear();
  for (const Prefix& given : prefixes) {
    const Prefix p = unmapped(given);  // as the block entries (add_checked)
    LpmKey key(p);
    sniffer_allow_entry value{};
    if (bpf_map_update_elem(allow_fd(p), key.data(),
                            &value, BPF_ANY)) {
      throw Error("allowlist: add " + p.text() + ": " + errno_text(errno));
    }
    allow_.push_back(p);
  }
}

void Blocklist::set_guard(BlockGuard guard) {
  guard.take_control_clients(guard_);
  guard_ = std::move(guard);
  revoke_checked_.reset();
  refresh_host_addresses();
}

void Blocklist::refresh_host_addresses() {
  if (!host_source_) return;
  const SensorAddressList addresses = host_source_();
  std::vector<ProtectedPrefix> sensor;
  for (const Prefix& p : addresses.configured) {
    sensor.push_back({p, RefusalReason::SensorAddress, "the sensor's address " + display(p)});
  }
  guard_.set_protected(RefusalReason::SensorAddress, std::move(sensor));
  sensor_addresses_ = addresses.configured;
  sensor_addresses_.insert(sensor_addresses_.end(), addresses.learned.begin(), addresses.learned.end());
}

std::optional<BlockRefusal> Blocklist::check(const Prefix& prefix, const std::vector<ProtectedPrefix>& extra,
                                             SensorAddresses sensor) const {
  if (auto refusal = guard_.check(prefix, extra, sensor)) return refusal;
  for (const Prefix& a : allow_) {
    if (a.contains(prefix)) {
      return BlockRefusal{RefusalReason::Allowlist,
                          prefix.text() + " is inside the allowlist entry " + a.text() + ": it would never apply"};
    }
  }
  return std::nullopt;
}

std::map<RefusalReason, std::uint64_t> Blocklist::refused() const {
  std::map<RefusalReason, std::uint64_t> out;
  for (RefusalReason r : kRefusalReasons) out[r] = 0;
  for (const auto& [r, n] : refused_) out[r] = n;
  return out;
}

BlockRule Blocklist::add(BlockRule rule, const std::vector<ProtectedPrefix>& extra) {
  refresh_host_addresses();
  rule = add_checked(std::move(rule), extra);
  sync_exemptions_into(unreported_);  // a learned address it covers: exempted before the next packet
  return rule;
}

void Blocklist::add_all(const std::vector<BlockRule>& rules,
                        const std::function<void(const BlockRule&, const Error&)>& refused) {
  refresh_host_addresses();
  for (const BlockRule& r : rules) {
    try {
      add_checked(r, {}, false, SensorAddresses::Exempted);
    } catch (const Error& e) {
      refused(r, e);
    }
  }
  update_dst_flag();
}

BlockRule Blocklist::add_checked(BlockRule rule, const std::vector<ProtectedPrefix>& extra, bool update_flag,
                                 SensorAddresses sensor) {
  // ::ffff:203.0.113.5, as a dual-stack server logs an IPv4 peer, means the
  // IPv4 address: in the IPv6 trie it would never match (red team, round 18).
  rule.prefix = unmapped(rule.prefix);
  if (auto refusal = check(rule.prefix, extra, sensor)) {
    ++refused_[refusal->reason];
    throw BlocklistError(BlocklistError::Kind::Refused, refusal->message, refusal->reason);
  }
  const Key key{rule.prefix, rule.direction};
  auto existing = rules_.find(key);
  if (existing != rules_.end() && existing->second.from_config && !rule.from_config) {
    refuse_config_entry(existing->second);  // a command would shorten, relabel or end it
  }
  if (const BlockRule* over = rule.from_config ? nullptr : config_drop_over(rule)) {
    refuse_inside_config_drop(rule, *over);
  }
  if (existing == rules_.end() && rules_in_trie_[trie_index(rule.prefix, rule.direction)] >= capacity()) {
    throw_full();  // the trie has room beyond this, but for the sensor's exemptions
  }
  rule.id = existing != rules_.end() ? existing->second.id : next_id_++;
  // An exemption holds this very key (the rule is the sensor's address):
  // the rule's entry goes in once the exemption leaves.
  if (!exempted(rule) && !write_to_kernel(rule)) {
    const int err = errno;
    if (err == E2BIG || err == ENOSPC || err == ENOMEM) throw_full();
    throw Error("blocklist: add " + rule.prefix.text() + ": " + errno_text(err));
  }
  if (existing == rules_.end()) ++rules_in_trie_[trie_index(rule.prefix, rule.direction)];
  if (rule.from_config && rule.action == BlockAction::Drop) config_drops_.insert(key);
  rules_[key] = rule;
  ++rule_changes_;
  if (update_flag) update_dst_flag();
  return rule;
}

bool Blocklist::write_to_kernel(const BlockRule& rule) const {
  sniffer_block_entry value = kernel_entry(rule);
  LpmKey lpm(rule.prefix);
  return bpf_map_update_elem(map_fd(rule.prefix, rule.direction), lpm.data(), &value, BPF_ANY) == 0;
}

void Blocklist::refuse_config_entry(const BlockRule& r) {
  throw BlocklistError(BlocklistError::Kind::Refused, r.prefix.text() + " (" + to_string(r.direction) +
                                                          ") is the config's entry, " + r.origin +
                                                          ": only a change of the config and a reload changes it");
}

const BlockRule* Blocklist::config_drop_over(const BlockRule& rule) const {
  for (const Key& key : config_drops_) {
    if (key.second == rule.direction && key.first.contains(rule.prefix)) return &rules_.at(key);
  }
  return nullptr;
}

void Blocklist::refuse_inside_config_drop(const BlockRule& rule, const BlockRule& config) {
  throw BlocklistError(BlocklistError::Kind::Refused,
                       rule.prefix.text() + " (" + to_string(rule.direction) + ") is inside the config's drop entry " +
                           config.prefix.text() + ", " + config.origin +
                           ", which drops it already: an entry there could only let it through");
}

void Blocklist::erase_from_kernel(const BlockRule& r) {
  if (exempted(r)) return;  // the key is the exemption's (sync_exemptions removes it when due)
  LpmKey key(r.prefix);
  if (bpf_map_delete_elem(map_fd(r.prefix, r.direction), key.data()) && errno != ENOENT) {
    spdlog::warn("blocklist: remove {} from the kernel: {}", r.prefix.text(), errno_text(errno));
  }
}

BlockRule Blocklist::remove(const Prefix& given, BlockDirection direction) {
  const Prefix prefix = unmapped(given);  // as add_checked stored it
  auto it = rules_.find({prefix, direction});
  if (it == rules_.end()) {
    throw BlocklistError(BlocklistError::Kind::NotFound,
                         "no blocklist entry for " + prefix.text() + " (" + to_string(direction) + ")");
  }
  if (it->second.from_config) refuse_config_entry(it->second);
  BlockRule r = it->second;
  r.hits = read_hits(r);
  erase_from_kernel(r);
  erase(it);
  update_dst_flag();
  return r;
}

std::uint64_t Blocklist::read_hits(const BlockRule& r) const {
  LpmKey key(r.prefix);
  sniffer_block_entry value{};
  // An exact-length key finds this very entry (not a covering one).
  if (bpf_map_lookup_elem(map_fd(r.prefix, r.direction), key.data(), &value) != 0) return 0;
  return value.rule_id == r.id ? value.hits : 0;
}

std::vector<BlockRule> Blocklist::list() const {
  std::vector<BlockRule> out;
  for (const auto& [key, rule] : rules_) {
    out.push_back(rule);
    out.back().hits = read_hits(rule);
  }
  return out;
}

std::vector<BlockRule> Blocklist::control_rules() const {
  std::vector<BlockRule> out;
  out.reserve(rules_.size());
  for (const auto& [key, rule] : rules_) {
    if (!rule.from_config) out.push_back(rule);
  }
  return out;
}

std::vector<BlockRule> Blocklist::remove_if(const std::function<bool(const BlockRule&)>& gone) {
  std::vector<BlockRule> removed;
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (!gone(it->second)) {
      ++it;
      continue;
    }
    BlockRule r = it->second;
    r.hits = read_hits(r);
    erase_from_kernel(r);
    removed.push_back(r);
    it = erase(it);
  }
  if (!removed.empty()) update_dst_flag();
  return removed;
}

std::vector<BlockRule> Blocklist::expire(std::uint64_t now_mono_ns) {
  return remove_if([&](const BlockRule& r) { return r.expires_mono_ns != 0 && r.expires_mono_ns <= now_mono_ns; });
}

bool Blocklist::shorten_in_kernel(const BlockRule& rule, std::uint64_t latest_mono_ns) {
  LpmKey lpm(rule.prefix);
  sniffer_block_entry value{};
  const int fd = map_fd(rule.prefix, rule.direction);
  // Read, then written back with the new end: the hits counted meanwhile
  // (between two syscalls) are the only ones that can be lost.
  if (bpf_map_lookup_elem(fd, lpm.data(), &value) != 0 || value.rule_id != rule.id) value = kernel_entry(rule);
  value.expires_ns = latest_mono_ns;
  if (bpf_map_update_elem(fd, lpm.data(), &value, BPF_ANY)) {
    spdlog::warn("blocklist: shorten {} in the kernel: {}", rule.prefix.text(), errno_text(errno));
    return false;
  }
  return true;
}

std::size_t Blocklist::end_control_rules_by(std::uint64_t latest_mono_ns, std::uint64_t latest_wall_ns) {
  std::size_t changed = 0;
  for (auto& [key, rule] : rules_) {
    if (rule.from_config || (rule.expires_mono_ns != 0 && rule.expires_mono_ns <= latest_mono_ns)) continue;
    // An exempted rule is not in the kernel now: written with its new end
    // when the exemption goes.
    if (!exempted(rule) && !shorten_in_kernel(rule, latest_mono_ns)) continue;
    rule.expires_mono_ns = latest_mono_ns;
    rule.expires_wall_ns = latest_wall_ns;
    ++changed;
  }
  return changed;
}

std::vector<BlockRule> Blocklist::set_static(const std::vector<BlockRule>& rules) {
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (!it->second.from_config) {
      ++it;
      continue;
    }
    erase_from_kernel(it->second);
    it = erase(it);
  }
  refresh_host_addresses();  // once for all of them
  for (BlockRule r : rules) {
    r.from_config = true;
    if (r.origin.empty()) r.origin = "config";
    add_checked(r, {}, false, SensorAddresses::Exempted);
  }
  update_dst_flag();
  // add() refuses them from now on; those made before this config are ended.
  return remove_if([&](const BlockRule& r) { return !r.from_config && config_drop_over(r); });
}

std::vector<BlockRule> Blocklist::revoke_refused() {
  refresh_host_addresses();
  // Every rule passed the guard when added: only a guard that may refuse
  // more needs them all checked again (at 65,536 rules, ~80 ms).
  if (revoke_checked_ == guard_.generation()) return {};
  revoke_checked_ = guard_.generation();
  return remove_if([&](const BlockRule& r) {
    return !r.from_config && guard_.check(r.prefix, {}, SensorAddresses::Exempted).has_value();
  });
}

std::map<Blocklist::Key, BlockRule>::iterator Blocklist::erase(std::map<Key, BlockRule>::iterator it) {
  --rules_in_trie_[trie_index(it->first.first, it->first.second)];
  config_drops_.erase(it->first);
  ++rule_changes_;
  return rules_.erase(it);
}

std::uint64_t Blocklist::allowlist_hits() const {
  std::uint64_t total = 0;
  for (const Prefix& p : allow_) {
    LpmKey key(p);
    sniffer_allow_entry value{};
    if (bpf_map_lookup_elem(allow_fd(p), key.data(),
                            &value) == 0) {
      total += value.hits;
    }
  }
  return total;
}

}  // namespace sniffer
