// The sensor's own addresses inside block entries: their exemptions in the
// tries (Blocklist::sync_exemptions, blocklist.hpp).
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>

#include "lpm_key.hpp"
#include "sniffer/abi.h"
#include "sniffer/blocklist.hpp"

namespace sniffer {

namespace {

// An exemption's value: no rule, never expires, hits from zero.
sniffer_block_entry exemption_entry() {
  sniffer_block_entry value{};
  value.action = SNIFFER_BLOCK_EXEMPT;
  return value;
}

}  // namespace

bool Blocklist::covers(const BlockRule& rule, const Exemption& e) {
  return rule.direction == e.direction && rule.prefix.family == e.address.family && rule.prefix.contains(e.address);
}

std::vector<BlockRule> Blocklist::covering(const Exemption& e) const {
  std::vector<BlockRule> out;
  for (const auto& [key, rule] : rules_) {
    if (covers(rule, e)) out.push_back(rule);
  }
  return out;
}

Blocklist::ExemptionChange Blocklist::sync_exemptions() {
  ExemptionChange change = std::exchange(unreported_, {});
  sync_exemptions_into(change);
  return change;
}

void Blocklist::sync_exemptions_into(ExemptionChange& change) {
  const std::pair now{guard_.generation(), rule_changes_};  // the addresses or the rules changed
  if (exemptions_synced_ == now) return;
  exemptions_synced_ = now;
  const std::set<Exemption> wanted = wanted_exemptions();
  end_exemptions_not_in(wanted, change);  // first: their room is needed
  add_exemptions(wanted, change);
}

std::set<Blocklist::Exemption> Blocklist::wanted_exemptions() const {
  std::set<Exemption> wanted;
  for (const Prefix& address : sensor_addresses_) {
    for (BlockDirection d : {BlockDirection::Source, BlockDirection::Destination}) {
      const Exemption e{address, d};
      if (std::any_of(rules_.begin(), rules_.end(), [&](const auto& kv) { return covers(kv.second, e); })) {
        wanted.insert(e);
      }
    }
  }
  return wanted;
}

void Blocklist::add_exemptions(const std::set<Exemption>& wanted, ExemptionChange& change) {
  std::erase_if(failing_exemptions_, [&](const Exemption& e) { return !wanted.count(e); });
  for (const Exemption& e : wanted) {
    if (exemptions_.count(e)) continue;
    const sniffer_block_entry value = exemption_entry();
    LpmKey key(e.address);
    if (bpf_map_update_elem(map_fd(e.address, e.direction), key.data(), &value, BPF_ANY)) {
      // Tried again at every sweep (once a second): said once, not each time.
      if (failing_exemptions_.insert(e).second) {
        spdlog::warn("blocklist: exempt the sensor's address {} ({}): {}; tried again every second", display(e.address),
                     to_string(e.direction), errno_text(errno));
      }
      exemptions_synced_.reset();
      continue;
    }
    failing_exemptions_.erase(e);
    exemptions_.insert(e);
    change.added.push_back(e);
  }
}

void Blocklist::end_exemptions_not_in(const std::set<Exemption>& wanted, ExemptionChange& change) {
  for (auto it = exemptions_.begin(); it != exemptions_.end();) {
    if (wanted.count(*it)) {
      ++it;
      continue;
    }
    const Exemption e = *it;
    it = exemptions_.erase(it);
    LpmKey key(e.address);
    if (bpf_map_delete_elem(map_fd(e.address, e.direction), key.data()) && errno != ENOENT) {
      spdlog::warn("blocklist: remove the exemption of {} ({}): {}", display(e.address), to_string(e.direction),
                   errno_text(errno));
    }
    // A rule for exactly that address goes (back) in.
    if (auto rule = rules_.find({e.address, e.direction}); rule != rules_.end() && !write_to_kernel(rule->second)) {
      spdlog::warn("blocklist: add {} again: {}", e.address.text(), errno_text(errno));
    }
    change.removed.push_back(e);
  }
}

}  // namespace sniffer
