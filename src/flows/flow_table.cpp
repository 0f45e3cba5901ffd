#include "sniffer/flow_table.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace sniffer {

namespace {

// Starts fetching every cache line of an object of Size bytes at `at` for
// writing (only a hint): a fixed count, the loop unrolled (at most one line
// past its end, which is harmless).
template <std::size_t Size, int Locality>
void prefetch_lines(const void* at) {
  const auto first = reinterpret_cast<std::uintptr_t>(at) & ~std::uintptr_t{63};
#pragma GCC unroll 32
  for (std::size_t i = 0; i <= Size / 64; ++i) __builtin_prefetch(reinterpret_cast<const void*>(first + 64 * i), 1, Locality);
}

}  // namespace

FlowTableConfig flow_table_config(const FlowConfig& f) {
  FlowTableConfig t;
  t.max_flows = f.max_flows;
  t.idle_timeout_ns = ms_to_ns(f.idle_timeout_ms);
  t.active_timeout_ns = ms_to_ns(f.active_timeout_ms);
  t.tcp_close_grace_ns = ms_to_ns(f.tcp_close_grace_ms);
  t.features.activity_timeout_ns = ms_to_ns(f.activity_timeout_ms);
  return t;
}

sniffer_flow_params flow_params(const FlowTableConfig& config) {
  sniffer_flow_params p{};
  p.idle_timeout_ns = config.idle_timeout_ns;
  p.active_timeout_ns = config.active_timeout_ns;
  p.tcp_close_grace_ns = config.tcp_close_grace_ns;
  p.activity_timeout_ns = config.features.activity_timeout_ns;
  p.subflow_gap_ns = config.features.subflow_gap_ns;
  p.bulk_gap_ns = config.features.bulk_gap_ns;
  return p;
}

FlowTable::FlowTable(const FlowTableConfig& config, Sink sink)
    : config_(config),
      params_(flow_params(config)),
      sink_(std::move(sink)),
      index_(config.max_flows),
      next_id_(config.first_flow_id) {
  // Slots and index grow on demand up to max_flows: memory follows the flows present.
}

const FlowState& FlowTable::add(const FlowPacket& p, std::uint32_t hash) {
  ++counters_.packets;
  const sniffer_flow_packet& packet = p.packet;
  std::uint32_t slot = index_.find(hash, [&](std::uint32_t i) { return flow_keys_equal(slots_[i].flow->key(), p.key); });
  if (slot != kNone) {
    // Ended before this packet joins it (close grace over, idle, a new
    // connection): decided on arrival, as the kernel does, so the result
    // does not depend on when expire() last ran.
    const std::uint64_t now = std::max<std::uint64_t>(clock_, packet.ts);
    if (int reason = sniffer_flow_end_before(&slots_[slot].flow->state(), &packet, now, &params_)) {
      end(slot, static_cast<v1::FlowEndReason>(reason));
      slot = kNone;
    }
  }
  if (slot == kNone) {
    slot = create(hash, p);
  } else {
    slots_[slot].flow->add(packet, p.a_to_b, params_);
    if (slot != head_) move_to_front(slot);
  }
  Slot& s = slots_[slot];
  const bool update_due = sniffer_flow_after_add(&s.flow->state(), &packet, &params_);
  if (!s.closing && s.flow->closed()) {
    s.closing = true;
    closing_.push_back({slot, s.flow->id(), s.flow->state().closing_since});
  }
  if (update_due) {
    sink_(*s.flow, v1::FLOW_END_ACTIVE_TIMEOUT, true);
    s.flow->count_update();
    ++counters_.updates;
  }
  return *s.flow;
}

void FlowTable::prefetch(const FlowKey& key) {
  const std::uint32_t hash = index_.hash(key);
  index_.prefetch(hash);
  const std::uint32_t earlier = std::exchange(prefetched_[prefetch_next_], hash);
  prefetch_next_ = prefetch_next_ + 1 == kPrefetchLag ? 0 : prefetch_next_ + 1;
  // The first slot whose hash matches: the key's nearly always.
  const std::uint32_t slot = index_.find(earlier, [](std::uint32_t) { return true; });
  if (slot == kNone) return;
  prefetch_lines<sizeof(Slot), 3>(&slots_[slot]);
  __builtin_prefetch(&links_[slot], 1, 3);
}

bool FlowTable::count_kernel_drop(const FlowKey& key, bool a_to_b) {
  const std::uint32_t slot =
      index_.find(index_.hash(key), [&](std::uint32_t i) { return flow_keys_equal(slots_[i].flow->key(), key); });
  if (slot == kNone) {
    ++counters_.kernel_drops_no_flow;
    return false;
  }
  slots_[slot].flow->count_kernel_drop(a_to_b);
  ++counters_.kernel_drops;
  return true;
}

std::uint32_t FlowTable::create(std::uint32_t hash, const FlowPacket& p) {
  if (index_.size() >= config_.max_flows && tail_ != kNone) {
    ++counters_.evicted;
    end(tail_, v1::FLOW_END_EVICTED);
    // A full table that sees a new flow often sees many (a scan, a flood):
    // start fetching the next victim's cold slot now. Only a hint.
    if (tail_ != kNone) prefetch_lines<sizeof(Slot), 1>(&slots_[tail_]);
  }
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
    links_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.flow.emplace(p, next_id_, params_);
  next_id_ += config_.flow_id_step;
  s.hash = hash;
  s.closing = false;
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
  clock_ = std::max(clock_, now_ns);
  while (!closing_.empty() && sniffer_due(sniffer_later(closing_.front().since_ns, config_.tcp_close_grace_ns), now_ns)) {
    Closing c = closing_.front();
    closing_.pop_front();
    Slot& s = slots_[c.slot];
    if (s.flow && s.flow->id() == c.flow_id) end_closed(c.slot);
  }
  while (tail_ != kNone && sniffer_due(sniffer_later(slots_[tail_].flow->last_ts(), config_.idle_timeout_ns), now_ns)) {
    // The flows before it in the list are the next to test, and often to end
    // (a capture's idle flows end in runs): their cold lines are fetched
    // while this one's record is written (each was a cache miss in the
    // record's fill, the index's erase, the unlink). Only hints: the next
    // one's index bucket (from its hash, in the slot fetched the round
    // before), the one after it's slot and link.
    if (const std::uint32_t next = links_[tail_].prev; next != kNone) {
      index_.prefetch(slots_[next].hash);
      if (const std::uint32_t after = links_[next].prev; after != kNone) {
        prefetch_lines<sizeof(Slot), 1>(&slots_[after]);
        __builtin_prefetch(&links_[after], 1, 1);
      }
    }
    // Idle, and maybe closed past its grace as well (the FIFO above stops
    // at its first entry not due, which a capture's clock stepping back can
    // leave in front): the close wins, as everywhere.
    end(tail_, static_cast<v1::FlowEndReason>(sniffer_flow_due_reason(&slots_[tail_].flow->state(), clock_, &params_)));
  }
}

void FlowTable::flush(v1::FlowEndReason reason) {
  while (head_ != kNone) {
    if (slots_[head_].closing) end_closed(head_);
    else end(head_, reason);
  }
  closing_.clear();
}

void FlowTable::unlink(std::uint32_t slot) {
  Link& s = links_[slot];
  if (s.prev != kNone) links_[s.prev].next = s.next;
  else head_ = s.next;
  if (s.next != kNone) links_[s.next].prev = s.prev;
  else tail_ = s.prev;
  s.prev = s.next = kNone;
}

void FlowTable::push_front(std::uint32_t slot) {
  Link& s = links_[slot];
  s.prev = kNone;
  s.next = head_;
  if (head_ != kNone) links_[head_].prev = slot;
  head_ = slot;
  if (tail_ == kNone) tail_ = slot;
}

}  // namespace sniffer
