#include "sniffer/kernel_flows.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace sniffer {

KernelFlows::KernelFlows(FlowMap& map, std::uint32_t capacity, const FlowTableConfig& config, FlowTable::Sink sink,
                         FlowsStarted flows_started)
    : map_(map),
      capacity_(capacity),
      params_(flow_params(config)),
      sink_(std::move(sink)),
      flows_started_(std::move(flows_started)),
      timed_sweeps_(!flows_started_ || !due_reason_is_settled(params_)) {}

FlowState KernelFlows::with_drops(const sniffer_flow_state& state, bool ended) {
  FlowState flow(state);
  if (drops_.empty()) return flow;  // offline always: no find's hash and bucket division a record
  auto it = drops_.find(state.flow_id);
  if (it == drops_.end()) return flow;
  flow.set_kernel_drops(it->second[0], it->second[1]);
  if (ended) drops_.erase(it);
  return flow;
}

void KernelFlows::end(const sniffer_flow_state& state, v1::FlowEndReason reason) {
  sink_(with_drops(state, true), reason, false);
  ++counters_.ended;
  if (reason > 0 && reason < v1::FlowEndReason_ARRAYSIZE) ++counters_.by_reason[reason];
}

void KernelFlows::on_record(const sniffer_flow_record& r) {
  ++counters_.records;
  if (!r.is_update) ++started_in_no_new_entry_;  // the flow after it took its entry, or none (table full)
  if (r.is_update) {
    sink_(with_drops(r.state, false), v1::FLOW_END_ACTIVE_TIMEOUT, true);
    ++counters_.updates;
    return;
  }
  if (r.end_reason == SNIFFER_FLOW_END_TABLE_FULL) ++counters_.table_full;
  end(r.state, static_cast<v1::FlowEndReason>(r.end_reason));
}

void KernelFlows::on_drop(const sniffer_flow_key& key, bool a_to_b) {
  sniffer_flow_value value{};
  const std::uint64_t id = map_.lookup(key, value) == 0 ? value.state.flow_id : 0;
  if (id == 0 || (drops_.size() >= capacity_ && !drops_.contains(id))) {
    ++counters_.kernel_drops_no_flow;
    return;
  }
  ++drops_[id][a_to_b == (value.state.fwd_is_a_to_b != 0) ? 0 : 1];
  ++counters_.kernel_drops;
}

void KernelFlows::take(const sniffer_flow_key& key, int reason, std::uint64_t now_ns) {
  sniffer_flow_value value{};
  // Copied under the entry's lock and removed in one step: a packet that
  // arrives after it starts a new entry.
  if (int err = map_.take(key, value); err != 0) {
    if (err != ENOENT) ++counters_.sweep_failures;
    return;
  }
  if (value.state.flow_id == 0) return;  // created, not started: nothing to send
  int why = reason ? reason : sniffer_flow_due_reason(&value.state, now_ns, &params_);
  if (why == 0) {
    // A packet revived the flow between the read and the removal: put it
    // back; if a newer entry took its place meanwhile, send it as evicted.
    if (map_.put_back(key, value) == 0) return;
    why = SNIFFER_FLOW_END_EVICTED;
    ++counters_.evicted;
  }
  ++counters_.swept;
  end(value.state, static_cast<v1::FlowEndReason>(why));
}

void KernelFlows::expire(std::uint64_t now, bool force) {
  // A capture's clock may step back: what was due stays due.
  last_now_ = std::max(last_now_, now);
  if (force || sweep_due(last_now_)) sweep(last_now_);
}

bool KernelFlows::sweep_due(std::uint64_t now_ns) {
  if (timed_sweeps_ && now_ns >= next_sweep_) return true;
  if (!flows_started_) return false;
  // Each flow started since the last sweep took a new entry, but for those
  // whose records said otherwise: the map's entries now, exactly (offline
  // no program runs meanwhile; a record not yet read only counts one more).
  const std::uint64_t started = flows_started_() - started_at_sweep_;
  counters_.entries += started - std::min(started, started_in_no_new_entry_);
  started_at_sweep_ += started;
  started_in_no_new_entry_ -= std::min(started, started_in_no_new_entry_);
  const std::uint64_t room = std::max<std::uint64_t>(1, capacity_ / 20);  // 5 %
  return counters_.entries + room >= capacity_;
}

void KernelFlows::sweep(std::uint64_t now_ns) {
  next_sweep_ = sniffer_later(now_ns, kSweepIntervalNs);
  ++counters_.sweeps;
  if (flows_started_) {
    started_at_sweep_ = flows_started_();  // read first: a flow started during the walk counts twice at most
    started_in_no_new_entry_ = 0;
  }

  struct Live {
    std::uint64_t last_ts;
    sniffer_flow_key key;
  };
  std::vector<sniffer_flow_key> due;
  std::vector<Live> live;
  std::uint64_t entries = 0;
  const bool complete = map_.for_each([&](const sniffer_flow_key& key, const sniffer_flow_value& value) {
    ++entries;
    const sniffer_flow_state& state = value.state;
    if (state.flow_id == 0) return;  // being created by a program right now
    if (sniffer_flow_due_reason(&state, now_ns, &params_)) due.push_back(key);
    else live.push_back({state.last_ts, key});
  });
  if (!complete) ++counters_.sweep_failures;  // the flows not read stay for the next sweep
  for (const sniffer_flow_key& k : due) take(k, 0, now_ns);
  counters_.entries = entries - std::min<std::uint64_t>(entries, due.size());

  // Above 90 % full: end the least recently seen flows down to 80 %, as
  // the userspace table's LRU eviction would, before the kernel runs out.
  const std::uint64_t high = capacity_ - capacity_ / 10, low = capacity_ - capacity_ / 5;
  if (live.size() > high) {
    const std::size_t n = live.size() - low;
    // Ties (flows last seen at one instant) go by key: the same flows end
    // whatever order the map is walked in (the kernel's hash seed, or the
    // user engine's store).
    std::nth_element(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(n), live.end(),
                     [](const Live& a, const Live& b) {
                       if (a.last_ts != b.last_ts) return a.last_ts < b.last_ts;
                       return std::memcmp(&a.key, &b.key, sizeof a.key) < 0;
                     });
    for (std::size_t i = 0; i < n; ++i) {
      ++counters_.evicted;
      take(live[i].key, SNIFFER_FLOW_END_EVICTED, now_ns);
    }
    counters_.entries -= std::min<std::uint64_t>(counters_.entries, n);
  }
}

void KernelFlows::flush(v1::FlowEndReason reason) {
  expire(last_now_, true);
  const std::vector<sniffer_flow_key> keys = map_.keys();
  for (const sniffer_flow_key& k : keys) {
    sniffer_flow_value value{};
    if (int err = map_.take(k, value); err != 0) {
      if (err != ENOENT) ++counters_.sweep_failures;
      continue;
    }
    if (value.state.flow_id == 0) continue;
    ++counters_.swept;
    end(value.state, (value.state.tcp & SNIFFER_TCP_CLOSING)
                         ? static_cast<v1::FlowEndReason>(sniffer_flow_close_reason(&value.state))
                         : reason);
  }
  counters_.entries = 0;
}

}  // namespace sniffer
