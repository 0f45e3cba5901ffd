#include "sniffer/prevention.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "sniffer/sensor_addresses.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

Prevention::Prevention(BpfPrograms& progs, const Config& config, ZmqRuntime& zmq, Captures* captures)
    : blocklist_(progs), control_endpoint_(config.control.endpoint), state_file_(config.blocklist.state_file) {
  blocklist_.set_host_addresses_source(read_sensor_addresses);
  check(config.blocklist);
  apply(config.blocklist);
  if (!config.control.endpoint.empty()) {
    if (!state_file_.empty()) {
      state_.emplace(state_file_);
      restore(config.blocklist);
      exempt_sensor_addresses();  // a restored block over an address the sensor gained since
      writer_.emplace(*state_);
    }
    control_.emplace(config.control, config.blocklist, blocklist_, zmq.context(), zmq.authenticator(), captures);
    control_->set_persist([this] { return persist(); });
  } else if (!state_file_.empty() && access(state_file_.c_str(), F_OK) == 0) {
    spdlog::warn("blocklist: {} is not read: without control.endpoint there are no control blocks to restore",
                 state_file_);
  }
}

void Prevention::check(const BlocklistConfig& next) {
  BlockGuard guard = blocklist_guard(next, control_endpoint_);
  guard.take_control_clients(blocklist_.guard());
  // Not the sensor's addresses: covering one is no error of the config (the
  // host's addresses change without it); such an address is exempted from
  // the entry instead (Blocklist::sync_exemptions).
  std::vector<ConfigError> errors;
  for (const auto& e : next.entries) {
    if (auto refusal = guard.check(e.prefix)) {
      blocklist_.count_refusal(refusal->reason);
      errors.push_back({e.path + ".prefix", refusal->message});
    }
  }
  if (!errors.empty()) throw ConfigInvalid(std::move(errors));
}

void Prevention::apply(const BlocklistConfig& config) {
  blocklist_.set_guard(blocklist_guard(config, control_endpoint_));
  blocklist_.set_settings(config.monitor_only, config.record_dropped);
  blocklist_.set_allowlist(config.allow);
  std::vector<BlockRule> rules;
  for (const auto& e : config.entries) {
    BlockRule r;
    r.prefix = e.prefix;
    r.direction = e.direction;
    r.action = e.action;
    r.reason = e.reason;
    r.origin = "config " + e.path;
    rules.push_back(r);
  }
  const std::vector<BlockRule> inside = blocklist_.set_static(rules);
  for (const BlockRule& r : inside) log_removal(r, "inside a drop entry of the config, which drops it already");
  if (!inside.empty()) persist();
  revoke();
  if (control_) control_->set_limits(config);
  spdlog::info("blocklist: {} static entries, {} allowlist prefixes{}", config.entries.size(), config.allow.size(),
               config.monitor_only ? "; monitor_only: entries count, none drops" : "");
  spdlog::info("blocklist guard: no block broader than /{} (IPv4) or /{} (IPv6), none covering the sensor's "
               "addresses, its control clients{} or {} blocklist.protected prefixes",
               config.min_prefix_v4, config.min_prefix_v6,
               endpoint_address(control_endpoint_) ? ", the control endpoint's address" : "",
               config.protected_prefixes.size());
}

void Prevention::revoke() {
  const std::vector<BlockRule> revoked = blocklist_.revoke_refused();  // reads the host's addresses
  for (const BlockRule& r : revoked) {
    auto refusal = blocklist_.guard().check(r.prefix, {}, SensorAddresses::Exempted);
    log_removal(r, refusal ? refusal->message : "");
  }
  exempt_sensor_addresses();
  if (!revoked.empty()) persist();
}

void Prevention::log_removal(const BlockRule& r, const std::string& why) {
  ++revoked_;
  spdlog::warn("blocklist: {} ({}) removed, rule {} by {} (reason \"{}\", {} hits): {}", r.prefix.text(),
               to_string(r.direction), r.id, r.origin, r.reason, r.hits, why);
}

void Prevention::exempt_sensor_addresses() {
  const Blocklist::ExemptionChange change = blocklist_.sync_exemptions();
  for (const Blocklist::Exemption& e : change.added) {
    const std::vector<BlockRule> over = blocklist_.covering(e);
    const BlockRule& first = over.front();  // an exemption is added only under a rule
    spdlog::warn("blocklist: the sensor's address {} is inside the {} entry {} ({}{}): those entries do not apply "
                 "to it, they still do to every other address",
                 display(e.address), to_string(e.direction), first.prefix.text(), first.origin,
                 over.size() > 1 ? " and " + std::to_string(over.size() - 1) + " more" : "");
  }
  for (const Blocklist::Exemption& e : change.removed) {
    spdlog::info("blocklist: the exemption of {} from the {} entries over it ended (no longer the sensor's "
                 "address, or no entry covers it now)", display(e.address), to_string(e.direction));
  }
}

void Prevention::reload(const BlocklistConfig& next) {
  check(next);
  apply(next);
  end_within_max_duration(next.max_duration_s);
  if (control_) control_->reload_key_comments();
  if (next.state_file != state_file_) {
    spdlog::warn("reload: \"blocklist.state_file\" changed: it takes effect at the next restart; {} stays",
                 state_file_.empty() ? "\"\"" : state_file_);
  }
}

void Prevention::end_within_max_duration(std::uint32_t max_duration_s) {
  const std::uint64_t longest = std::uint64_t{max_duration_s} * 1'000'000'000;
  const std::size_t shortened =
      blocklist_.end_control_rules_by(monotonic_now_ns() + longest, realtime_now_ns() + longest);
  if (shortened == 0) return;
  spdlog::warn("blocklist: {} control entries ended later than blocklist.max_duration_s ({} s) from now: "
               "they now end {} s from now", shortened, max_duration_s, max_duration_s);
  persist();
}

void Prevention::poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns) {
  if (control_) control_->poll(now_mono_ns, now_wall_ns);
  service_state();
  if (now_mono_ns < next_sweep_ns_) return;
  next_sweep_ns_ = now_mono_ns + 1'000'000'000;
  for (const BlockRule& r : blocklist_.expire(now_mono_ns)) {
    ++expired_;
    spdlog::warn("blocklist: {} ({}) expired, rule {} by {} (reason \"{}\", {} hits)", r.prefix.text(),
                 to_string(r.direction), r.id, r.origin, r.reason, r.hits);
  }
  // The host's addresses (re-read once a second) and the entries over them:
  // what the guard now refuses goes, the sensor's addresses are exempted.
  revoke();
  // A failed write is tried again (with the state of then) on its backoff.
  if (writer_ && state_seen_.unsaved && state_retry_due(now_mono_ns)) state_dirty_ = state_retry_now_ = true;
}

std::optional<std::string> Prevention::control_endpoint_refused() const {
  if (!control_) return std::nullopt;
  return control_->refused();
}

BlocklistCounters Prevention::counters() const {
  BlocklistCounters c{.entries = blocklist_.size(),
                      .capacity = blocklist_.capacity(),
                      .expired = expired_,
                      .revoked = revoked_,
                      .exemptions = blocklist_.exemptions(),
                      .state_write_failures = state_seen_.failures,
                      .state_unsaved = state_seen_.unsaved ? 1u : 0u,
                      .allowlist_hits = blocklist_.allowlist_hits()};
  for (const auto& [reason, n] : blocklist_.refused()) c.refused[to_string(reason)] = n;
  if (control_) c.control = control_->counters();
  return c;
}

}  // namespace sniffer
