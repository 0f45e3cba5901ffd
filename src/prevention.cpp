#include "sniffer/prevention.hpp"

#include <spdlog/spdlog.h>

namespace sniffer {

Prevention::Prevention(BpfPrograms& progs, const Config& config, Pipeline& pipeline) : blocklist_(progs) {
  apply(config.blocklist);
  if (!config.control.endpoint.empty()) {
    control_.emplace(config.control, config.blocklist, blocklist_, pipeline.zmq_context(), pipeline.authenticator());
  }
}

void Prevention::apply(const BlocklistConfig& config) {
  blocklist_.set_settings(config.monitor_only, config.record_dropped);
  blocklist_.set_allowlist(config.allow);
  std::vector<BlockRule> rules;
  for (const auto& e : config.entries) {
    BlockRule r;
    r.prefix = e.prefix;
    r.direction = e.direction;
    r.action = e.action;
    r.reason = e.reason;
    rules.push_back(r);
  }
  blocklist_.set_static(rules);
  if (control_) control_->set_limits(config);
  spdlog::info("blocklist: {} static entries, {} allowlist prefixes{}", config.entries.size(), config.allow.size(),
               config.monitor_only ? "; monitor_only: entries count, none drops" : "");
}

void Prevention::reload(const BlocklistConfig& next) { apply(next); }

void Prevention::poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns) {
  if (control_) control_->poll(now_mono_ns, now_wall_ns);
  if (now_mono_ns < next_sweep_ns_) return;
  next_sweep_ns_ = now_mono_ns + 1'000'000'000;
  for (const BlockRule& r : blocklist_.expire(now_mono_ns)) {
    ++expired_;
    spdlog::warn("blocklist: {} ({}) expired, rule {} by {} (reason \"{}\", {} hits)", r.prefix.text(),
                 to_string(r.direction), r.id, r.origin, r.reason, r.hits);
  }
}

nlohmann::json Prevention::counters_json() const {
  nlohmann::json j{{"entries", blocklist_.size()},
                   {"capacity", blocklist_.capacity()},
                   {"expired", expired_},
                   {"allowlist_hits", blocklist_.allowlist_hits()}};
  j["control"] = control_ ? control_->counters_json() : nlohmann::json::object();
  return j;
}

}  // namespace sniffer
