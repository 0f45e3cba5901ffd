// The flow table: bounded, with idle and active timeouts, TCP FIN/RST
// termination and counted LRU eviction. Live capture and offline pcap
// replay feed it the same way; `now` is whatever clock the packets carry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "sniffer/config.hpp"
#include "sniffer/flow_index.hpp"
#include "sniffer/flow_state.hpp"

namespace sniffer {

// Defaults: FlowConfig's (config.hpp, the one place they are written).
struct FlowTableConfig {
  std::uint32_t max_flows = FlowConfig{}.max_flows;
  // No packet for this long ends a flow.
  std::uint64_t idle_timeout_ns = ms_to_ns(FlowConfig{}.idle_timeout_ms);
  // A long flow is exported (as an update) this often.
  std::uint64_t active_timeout_ns = ms_to_ns(FlowConfig{}.active_timeout_ms);
  // After FIN+FIN or RST, for the last ACKs.
  std::uint64_t tcp_close_grace_ns = ms_to_ns(FlowConfig{}.tcp_close_grace_ms);
  FlowFeatureParams features;
  // The first flow id (then one up per flow): --read-pcap -j gives each
  // worker its own range, so that ids stay unique in the table they make.
  std::uint64_t first_flow_id = 1;
  // capture.workers: worker i of n numbers its flows first + i, first + i + n, ...
  std::uint64_t flow_id_step = 1;
};

// The flow table's settings from the config (the one conversion of flows.*).
FlowTableConfig flow_table_config(const FlowConfig& flows);

// The parameters of sniffer/flow_update.h, from a table's config.
sniffer_flow_params flow_params(const FlowTableConfig& config);

struct FlowTableCounters {
  std::uint64_t packets = 0;       // packets added
  std::uint64_t created = 0;
  std::uint64_t ended = 0;         // final records exported, any reason
  std::uint64_t updates = 0;       // active-timeout updates exported
  std::uint64_t evicted = 0;       // ended early because the table was full
  std::uint64_t by_reason[v1::FlowEndReason_ARRAYSIZE] = {};  // final records by v1::FlowEndReason
  std::uint64_t kernel_drops = 0;          // dropped packets counted on their flow
  std::uint64_t kernel_drops_no_flow = 0;  // dropped packets of no flow in the table
};

class FlowTable {
 public:
  // Receives every exported record's state; is_update marks active-timeout updates.
  using Sink = std::function<void(const FlowState&, v1::FlowEndReason, bool is_update)>;

  FlowTable(const FlowTableConfig& config, Sink sink);

  // Returns the flow the packet joined (or started).
  const FlowState& add(const FlowPacket& p) { return add(p, index_.hash(p.key)); }
  // The same, with hash_of(p.key) computed before (a group of records
  // hashes its keys first: RecordProcessor::process_group).
  const FlowState& add(const FlowPacket& p, std::uint32_t hash);
  std::uint32_t hash_of(const FlowKey& key) const { return index_.hash(key); }
  // A packet of this key comes a few add()s later (the ring reader sees it
  // ahead): starts fetching its index bucket, and the slot of the key given
  // kPrefetchLag calls ago, whose bucket is in cache by now. Only a hint:
  // changes nothing a lookup finds. Worth its cost (~130 instructions a
  // record) only when the slots outgrow the caches: see prefetch_pays().
  void prefetch(const FlowKey& key);
  bool prefetch_pays() const { return index_.size() >= kPrefetchFrom; }
  // bench/micro_user BM_FullPipeline, 2 vCPUs with 4 MiB L2 each: peeking
  // cost 4-15 ns per record up to 16,384 flows (~14 MB of slots) and saved
  // ~40 at 65,536.
  static constexpr std::size_t kPrefetchFrom = 32768;
  static constexpr unsigned kPrefetchLag = 3;
  // A packet the kernel dropped, by its flow's key and direction: counted on
  // the flow (false, and counted as such, when the table has no such flow).
  bool count_kernel_drop(const FlowKey& key, bool a_to_b);
  // Ends idle flows and closed TCP flows whose grace has passed.
  void expire(std::uint64_t now_ns);
  // Ends every flow (shutdown, end of capture).
  void flush(v1::FlowEndReason reason);

  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return config_.max_flows; }
  const FlowTableCounters& counters() const { return counters_; }

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;
  // On a cache line's start: a packet touches the key's line, its
  // direction's, and the last one (Community ID, hash, closing); 824 bytes
  // from anywhere span 14 lines, not 13, and split those groups more often.
  struct alignas(64) Slot {
    std::optional<FlowState> flow;
    std::uint32_t hash = 0;  // index_.hash(flow->key())
    bool closing = false;    // queued in closing_
  };
  // A slot's place in the LRU list (most recent at head), kept apart from
  // the slots: moving a flow to the front touches its neighbours' links,
  // 8 bytes each here, instead of a line of each neighbour's large slot.
  struct Link {
    std::uint32_t prev = kNone, next = kNone;
  };

  std::uint32_t create(std::uint32_t hash, const FlowPacket& p);
  void end_closed(std::uint32_t slot) { end(slot, static_cast<v1::FlowEndReason>(sniffer_flow_close_reason(&slots_[slot].flow->state()))); }
  void end(std::uint32_t slot, v1::FlowEndReason reason);
  void unlink(std::uint32_t slot);
  void push_front(std::uint32_t slot);
  // unlink + push_front of a listed slot that is not the head (every packet
  // of a flow seen before): its prev and the head exist.
  void move_to_front(std::uint32_t slot) {
    Link& s = links_[slot];
    links_[s.prev].next = s.next;
    if (s.next != kNone) links_[s.next].prev = s.prev;
    else tail_ = s.prev;
    s.prev = kNone;
    s.next = head_;
    links_[head_].prev = slot;
    head_ = slot;
  }

  FlowTableConfig config_;
  sniffer_flow_params params_;
  Sink sink_;
  FlowIndex index_;  // flow hash -> slot; the key is the slot's
  std::vector<Slot> slots_;
  std::vector<Link> links_;  // by slot, as slots_
  std::vector<std::uint32_t> free_;
  std::uint32_t head_ = kNone, tail_ = kNone;
  struct Closing {
    std::uint32_t slot;
    std::uint64_t flow_id;
    std::uint64_t since_ns;
  };
  std::uint32_t prefetched_[kPrefetchLag] = {};  // the last prefetch()es' hashes, oldest at prefetch_next_
  unsigned prefetch_next_ = 0;
  std::deque<Closing> closing_;  // FIFO: the grace is the same for all
  std::uint64_t next_id_ = 1;
  std::uint64_t clock_ = 0;  // the latest time expire() was given
  FlowTableCounters counters_;
};

}  // namespace sniffer
