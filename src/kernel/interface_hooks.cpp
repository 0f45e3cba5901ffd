// InterfaceManager's hooks: attaching the configured ones (a failure does not
// stop the others), replacing an XDP hook whose mode changed, and finding
// those someone else removed.
#include <net/if.h>

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"
#include "sniffer/interface_manager.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

// Failures are joined with "; " into one message.
void append_failure(std::string& failures, const std::string& failure) {
  if (!failures.empty()) failures += "; ";
  failures += failure;
}

}  // namespace

// Removed by someone else more than once, the last time within kCalmNs.
bool InterfaceManager::fighting(const Entry& e) {
  const std::uint64_t now = monotonic_now_ns();
  return std::any_of(e.removals.begin(), e.removals.end(),
                     [now](const Entry::Removals& r) { return r.count > 1 && now - r.last_ns < kCalmNs; });
}

std::unique_ptr<Attachment> InterfaceManager::attach_hook(const std::string& name, const Entry& e, Hook hook,
                                                          XdpMode xdp_mode) {
  switch (hook) {
    case Hook::XdpIngress: return attach_xdp(progs_.xdp_prog_fd(), e.info.ifindex, name, xdp_mode);
    case Hook::TcIngress:
      return attach_tc(progs_.tc_ingress_prog_fd(), e.info.ifindex, name, true, tc_attach_, e.reclaim);
    case Hook::TcEgress:
      return attach_tc(progs_.tc_egress_prog_fd(), e.info.ifindex, name, false, tc_attach_, e.reclaim);
  }
  throw Error(name + ": unknown hook");
}

// Every configured hook that is not attached yet; one that fails does not stop
// the others. On reload an XDP hook whose mode changed is replaced, and kept in
// its old mode when the new one fails (two XDP programs cannot share an
// interface, so the old one must go first); that kept hook counts as attached
// and is left alone until the next reload. Throws, once all were tried, naming
// each failure.
void InterfaceManager::attach_entry(const std::string& name, Entry& e, bool reload) {
  std::string failures;
  e.hooks_missing = 0;
  if (reload) e.xdp_kept.reset();
  for (Hook hook : e.config.hooks) {
    auto key = std::make_pair(name, hook);
    const XdpMode mode = hook == Hook::XdpIngress && e.xdp_kept ? *e.xdp_kept : e.config.xdp_mode;
    std::optional<XdpMode> previous;
    if (auto it = attached_.find(key); it != attached_.end()) {
      if (it->second.first == mode || hook != Hook::XdpIngress || !reload) continue;
      previous = it->second.first;
      spdlog::info("{}: detached {} (xdp_mode is now {})", name, it->second.second->describe(), to_string(mode));
      attached_.erase(it);
    }
    try {
      std::unique_ptr<Attachment> a = attach_hook(name, e, hook, mode);
      // In a fight with another tool the warning (throttled) says it all.
      spdlog::log(fighting(e) ? spdlog::level::debug : spdlog::level::info, "{} (ifindex {}, {}, {}): attached {}",
                  name, e.info.ifindex, to_string(e.config.role), to_string(e.config.mode), a->describe());
      attached_[key] = {mode, std::move(a)};
    } catch (const std::exception& ex) {
      append_failure(failures, ex.what());
      if (previous) restore_xdp(name, e, *previous, failures);
      if (!previous || !e.xdp_kept) ++e.hooks_missing;
    }
  }
  if (!failures.empty()) throw HooksMissing(failures, e.hooks_missing == 0);
  e.reclaim = false;
  if (e.reattach_pending) {
    e.reattach_pending = false;
    ++e.counters.reattached;
    spdlog::info("{} (ifindex {}): re-attached ({} hook(s)); counters continue", name, e.info.ifindex,
                 e.config.hooks.size());
  }
}

void InterfaceManager::restore_xdp(const std::string& name, Entry& e, XdpMode mode, std::string& failures) {
  try {
    std::unique_ptr<Attachment> a = attach_hook(name, e, Hook::XdpIngress, mode);
    spdlog::warn("{} (ifindex {}): xdp_mode {} is not available here: kept XDP in its previous mode, attached {}; "
                 "not tried again until the next SIGHUP",
                 name, e.info.ifindex, to_string(e.config.xdp_mode), a->describe());
    failures += " (kept XDP in " + std::string(to_string(mode)) + " mode)";
    attached_[std::make_pair(name, Hook::XdpIngress)] = {mode, std::move(a)};
    e.xdp_kept = mode;
  } catch (const std::exception& ex) {
    append_failure(failures, name + ": XDP in its previous mode too: " + ex.what());
  }
}

// A hook someone else removed: counted, said (at most once a minute per hook,
// with how many were left out), and attached again at once the first time,
// after 1, 2, 4 ... 30 s (retry_missing) when it keeps being removed.
void InterfaceManager::removed(const std::string& name, Entry& e, const Attachment& what, Hook hook,
                               std::uint64_t now_ns) {
  ++e.counters.hooks_detached;
  Entry::Removals& r = e.removals.at(static_cast<std::size_t>(hook));
  if (r.count > 0 && now_ns - r.last_ns >= kCalmNs) r.count = 0;
  ++r.count;
  r.last_ns = now_ns;
  e.reclaim = true;
  const std::uint64_t backoff = kFirstRetryNs << std::min(r.count, 7u) >> 2;  // 1, 2, 4 ... s
  const std::uint64_t delay = r.count == 1 ? 0 : std::min(backoff, kLongestRetryNs);
  const LogThrottle::Verdict v = removed_log_.check(name + "/" + std::to_string(static_cast<int>(hook)), now_ns);
  if (v.log) {
    spdlog::warn("{} (ifindex {}): {} was removed or replaced by someone else (bpftool link detach, tc qdisc del, "
                 "tc filter replace?): attaching it again{}{}",
                 name, e.info.ifindex, what.describe(),
                 delay ? " in " + std::to_string(delay / 1'000'000'000) + " s (removed " + std::to_string(r.count) +
                             " times in a row)"
                       : std::string(),
                 v.left_out ? "; " + std::to_string(v.left_out) + " such removal(s) not logged since the last line"
                            : std::string());
  }
  if (delay == 0) return;
  ++e.hooks_missing;  // until the retry: not attached
  e.retry_delay_ns = delay;
  e.retry_at_ns = now_ns + delay;
}

void InterfaceManager::verify(std::uint64_t now_mono_ns) {
  if (now_mono_ns != 0 && now_mono_ns - last_verify_ns_ < 1'000'000'000ull) return;
  last_verify_ns_ = now_mono_ns;
  const std::uint64_t now = now_mono_ns ? now_mono_ns : monotonic_now_ns();
  std::set<std::string> damaged;
  for (auto it = attached_.begin(); it != attached_.end();) {
    const std::string& name = it->first.first;
    auto e = entries_.find(name);
    char current[IF_NAMESIZE] = {};
    // An interface deleted or renamed is the link monitor's (its hooks went with it).
    const bool ours = e != entries_.end() && e->second.present &&
                      if_indextoname(e->second.info.ifindex, current) != nullptr && name == current;
    if (!ours || it->second.second->still_attached()) {
      ++it;
      continue;
    }
    removed(name, e->second, *it->second.second, it->first.second, now);
    if (e->second.removals.at(static_cast<std::size_t>(it->first.second)).count == 1) damaged.insert(name);
    it = attached_.erase(it);
  }
  for (const std::string& name : damaged) {
    try {
      attach_entry(name, entries_.at(name), false);
    } catch (const std::exception& ex) {
      spdlog::error("{}: attaching again failed: {}; tried again in 1 s, then less and less often (at most every "
                    "{} s)",
                    name, ex.what(), kLongestRetryNs / 1'000'000'000);
    }
  }
  retry_missing(now_mono_ns);
}

// Interfaces whose last attach left hooks missing (another program held the
// XDP hook for a moment, or removes ours again and again): tried again after
// 1, 2, 4... up to 30 s; logged when they come back (the failures were logged
// when they began). A hook kept in its previous XDP mode is not missing.
void InterfaceManager::retry_missing(std::uint64_t now_mono_ns) {
  if (now_mono_ns == 0) return;  // a SIGHUP: attach() tries every missing hook anyway
  for (auto& [name, e] : entries_) {
    if (!e.present || e.hooks_missing == 0) {
      e.retry_at_ns = e.retry_delay_ns = e.retries = 0;
      continue;
    }
    if (e.retry_delay_ns == 0) {  // just found missing: the first retry in a second
      e.retry_delay_ns = next_retry_delay_ns(0);
      e.retry_at_ns = now_mono_ns + e.retry_delay_ns;
      continue;
    }
    if (now_mono_ns < e.retry_at_ns) continue;
    ++e.retries;
    try {
      attach_entry(name, e, false);
      spdlog::log(fighting(e) ? spdlog::level::debug : spdlog::level::info,
                  "{} (ifindex {}): the missing hook(s) attached again, at retry {}", name, e.info.ifindex, e.retries);
    } catch (const std::exception& ex) {
      e.retry_delay_ns = next_retry_delay_ns(e.retry_delay_ns);
      e.retry_at_ns = now_mono_ns + e.retry_delay_ns;
      if (e.retry_delay_ns == kLongestRetryNs && e.retries % 10 == 0) {
        spdlog::warn("{}: hooks still missing after {} retries: {}", name, e.retries, ex.what());
      }
    }
  }
}

void InterfaceManager::attach() {
  verify(0);
  // Detach what is no longer wanted (a removed or absent interface or hook).
  for (auto it = attached_.begin(); it != attached_.end();) {
    const auto& [name, hook] = it->first;
    auto e = entries_.find(name);
    bool wanted = e != entries_.end() && e->second.present &&
                  std::find(e->second.config.hooks.begin(), e->second.config.hooks.end(), hook) !=
                      e->second.config.hooks.end();
    if (wanted) {
      ++it;
      continue;
    }
    spdlog::info("{}: detached {}", name, it->second.second->describe());
    it = attached_.erase(it);
  }
  // Then every interface's missing hooks: one interface that fails leaves the others attached.
  std::string failures;
  bool modes_kept_only = true;
  for (auto& [name, e] : entries_) {
    if (!e.present) continue;
    try {
      attach_entry(name, e, true);
    } catch (const HooksMissing& ex) {
      append_failure(failures, ex.what());
      modes_kept_only = modes_kept_only && ex.modes_kept_only();
    } catch (const std::exception& ex) {
      append_failure(failures, ex.what());
      modes_kept_only = false;
    }
  }
  if (!failures.empty()) throw HooksMissing(failures, modes_kept_only);
}

}  // namespace sniffer
