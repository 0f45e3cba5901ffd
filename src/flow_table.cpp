#include "sniffer/flow_table.hpp"

namespace sniffer {

namespace {
// Deadlines: t + d without wrapping, since timestamps come from packets, which
// may carry anything. A deadline that saturates is "never", so a packet stamped
// at the end of time does not trigger it at once.
constexpr std::uint64_t kNever = UINT64_MAX;
std::uint64_t later(std::uint64_t t, std::uint64_t d) { return t >= kNever - d ? kNever : t + d; }
bool due(std::uint64_t deadline, std::uint64_t now) { return deadline != kNever && deadline <= now; }
}  // namespace

FlowTable::FlowTable(const FlowTableConfig& config, Sink sink, Classifier classify)
    : config_(config), sink_(std::move(sink)), classify_(std::move(classify)), index_(config.max_flows) {
  // Slots and index grow on demand up to max_flows: memory follows the flows present.
}

void FlowTable::add(const PacketInfo& p) {
  ++counters_.packets;
  bool a_to_b = false;
  FlowKey key = FlowKey::of(p, a_to_b);
  const std::uint32_t hash = index_.hash(key);
  std::uint32_t slot = index_.find(hash, [&](std::uint32_t i) { return flow_keys_equal(slots_[i].flow->key(), key); });
  if (slot == kNone) {
    slot = create(key, hash, p, a_to_b);
  } else {
    Slot& s = slots_[slot];
    if (s.flow->is_new_connection(p)) {
      // A new connection on this 5-tuple: the old flow ends now.
      end(slot, !s.flow->closed()    ? v1::FLOW_END_PORT_REUSE
                : s.flow->rst_seen() ? v1::FLOW_END_RST
                                     : v1::FLOW_END_FIN);
      slot = create(key, hash, p, a_to_b);
    } else {
      s.flow->add(p, a_to_b);
      unlink(slot);
      push_front(slot);
    }
  }
  Slot& s = slots_[slot];
  if (!s.closing && s.flow->closed()) {
    s.closing = true;
    closing_.push_back({slot, s.flow->id(), p.ts_ns});
  }
  if (due(s.next_update_ns, p.ts_ns)) {
    sink_(*s.flow, v1::FLOW_END_ACTIVE_TIMEOUT, true);
    s.flow->count_update();
    ++counters_.updates;
    s.next_update_ns = later(p.ts_ns, config_.active_timeout_ns);
  }
}

std::uint32_t FlowTable::create(const FlowKey& key, std::uint32_t hash, const PacketInfo& p, bool a_to_b) {
  if (index_.size() >= config_.max_flows && tail_ != kNone) {
    ++counters_.evicted;
    end(tail_, v1::FLOW_END_EVICTED);
    // A full table that sees a new flow often sees many (a scan, a flood):
    // start fetching the next victim's cold slot now. Only a hint.
    if (tail_ != kNone) {
      const char* next = reinterpret_cast<const char*>(&slots_[tail_]);
      for (std::size_t off = 0; off < sizeof(Slot); off += 64) __builtin_prefetch(next + off, 1, 1);
    }
  }
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.flow.emplace(key, p, a_to_b, next_id_++, classify_(p), config_.features);
  s.hash = hash;
  s.closing = false;
  s.next_update_ns = later(p.ts_ns, config_.active_timeout_ns);
  index_.insert(hash, slot);  // cannot fail: a full table evicted above
  push_front(slot);
  ++counters_.created;
  return slot;
}

void FlowTable::end(std::uint32_t slot, v1::FlowEndReason reason) {
  Slot& s = slots_[slot];
  sink_(*s.flow, reason, false);
  ++counters_.ended;
  ++counters_.by_reason[reason];
  index_.erase(s.hash, slot);
  unlink(slot);
  s.flow.reset();
  s.closing = false;
  free_.push_back(slot);
}

void FlowTable::expire(std::uint64_t now_ns) {
  while (!closing_.empty() && due(later(closing_.front().since_ns, config_.tcp_close_grace_ns), now_ns)) {
    Closing c = closing_.front();
    closing_.pop_front();
    Slot& s = slots_[c.slot];
    if (s.flow && s.flow->id() == c.flow_id) end(c.slot, s.flow->rst_seen() ? v1::FLOW_END_RST : v1::FLOW_END_FIN);
  }
  while (tail_ != kNone && due(later(slots_[tail_].flow->last_ts(), config_.idle_timeout_ns), now_ns)) {
    end(tail_, v1::FLOW_END_IDLE_TIMEOUT);
  }
}

void FlowTable::flush(v1::FlowEndReason reason) {
  while (head_ != kNone) {
    Slot& s = slots_[head_];
    bool closed = s.closing;
    end(head_, closed ? (s.flow->rst_seen() ? v1::FLOW_END_RST : v1::FLOW_END_FIN) : reason);
  }
  closing_.clear();
}

void FlowTable::unlink(std::uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.prev != kNone) slots_[s.prev].next = s.next;
  else head_ = s.next;
  if (s.next != kNone) slots_[s.next].prev = s.prev;
  else tail_ = s.prev;
  s.prev = s.next = kNone;
}

void FlowTable::push_front(std::uint32_t slot) {
  Slot& s = slots_[slot];
  s.prev = kNone;
  s.next = head_;
  if (head_ != kNone) slots_[head_].prev = slot;
  head_ = slot;
  if (tail_ == kNone) tail_ = slot;
}

}  // namespace sniffer
