// The --labels rules by address (FlowLabels' index): which rules could match
// a flow at all, so that a flow is checked against those, not every rule.
//
// A rule with an address is filed under one of its prefixes (the longer of
// src and dst; src on a tie), as its masked address in a hash table per
// family and length, for the end of a flow it must hold: a src prefix under
// the flow's initiator, a dst prefix under its responder; a rule of direction
// "either" also under the other end (its reverse orientation). A rule without
// an address but with one port (dst_port, else src_port, a range of one) is
// filed under that port for the end it must hold, the same way (red team
// R17-7: 100,000 port rules were checked for every flow); any other rule is
// on the wildcard list. A flow's candidates are then the rules filed under
// its initiator's masked address (one hash look-up per length present),
// under its responder's, under its ports, and the wildcard list, each in rule
// order (a rule possibly on two), merged into one ascending sequence that is
// checked up to the first match. Memory: a rule number (4 bytes) per filing,
// at most two a rule, 2-4 24-byte slots per distinct masked address, and
// 256 KiB per flow end when port rules are filed.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <vector>

#include "sniffer/prefix.hpp"

namespace sniffer {

struct LabelRule;

class LabelRuleIndex {
 public:
  LabelRuleIndex() = default;
  explicit LabelRuleIndex(const std::vector<LabelRule>& rules);

  // The lowest rule number n among those that may match a flow from `src`
  // to `dst` (hosts; a family of 0 has none), from port `src_port` to
  // `dst_port`, for which match(n) holds, UINT32_MAX for none: the
  // candidates are tried in ascending order, as a scan of every rule would,
  // and none after the first that matches.
  template <class Match>
  std::uint32_t first(const Prefix& src, const Prefix& dst, std::uint32_t src_port, std::uint32_t dst_port,
                      Match&& match) const {
    const Key keys[2] = {key_of(src.addr), key_of(dst.addr)};
    const int families[2] = {src.family, dst.family};
    Range lists[kMaxLists];  // left uninitialized: only the first `count` are set
    std::size_t count = 0;
    for (const Table& table : tables_) {
      if (table.family != families[table.end]) continue;
      if (const Bucket* b = table.find(keys[table.end] & table.mask)) {
        lists[count++] = {rules_.data() + b->begin, rules_.data() + b->end};
      }
    }
    const std::uint32_t ports[2] = {src_port, dst_port};
    for (int end = 0; end < 2; ++end) {
      const PortFilings& filed = by_port_[end];
      if (filed.begin.empty() || ports[end] > 65535) continue;
      const std::uint32_t b = filed.begin[ports[end]], e = filed.begin[ports[end] + 1];
      if (b != e) lists[count++] = {filed.rules.data() + b, filed.rules.data() + e};
    }
    if (!wildcard_.empty()) lists[count++] = {wildcard_.data(), wildcard_.data() + wildcard_.size()};
    std::size_t candidates = 0;
    for (std::size_t i = 0; i < count; ++i) candidates += static_cast<std::size_t>(lists[i].end - lists[i].at);
    if (count == 1) return first_of(lists[0], match);
    // Most rules candidates (nested prefixes of one network, red team R15-4):
    // merging would cost more than trying every rule, which is as exact.
    if (candidates * 4 >= rule_count_) {
      for (std::uint32_t n = 0; n < rule_count_; ++n) {
        if (match(n)) return n;
      }
      return UINT32_MAX;
    }
    // Merged through a heap of the lists by their next rule number: log(lists)
    // a candidate.
    const auto later = [](const Range& a, const Range& b) { return *a.at > *b.at; };
    Range* const heap = lists;
    std::make_heap(heap, heap + count, later);
    while (count > 0) {
      std::pop_heap(heap, heap + count, later);
      Range& next = heap[count - 1];
      const std::uint32_t number = *next.at++;
      if (match(number)) return number;
      if (next.at == next.end) {
        --count;
      } else {
        std::push_heap(heap, heap + count, later);
      }
    }
    return UINT32_MAX;
  }

 private:
  struct Range;
  // The first of one list's rules that matches.
  template <class Match>
  static std::uint32_t first_of(const Range& list, Match& match) {
    for (const std::uint32_t* n = list.at; n != list.end; ++n) {
      if (match(*n)) return *n;
    }
    return UINT32_MAX;
  }

  // At most one table per end, family and length holds a flow's end, plus
  // a port's list per end and the wildcard list.
  static constexpr std::size_t kMaxLists = 2 * 129 + 2 + 1;
  struct Range {  // rule numbers, ascending
    const std::uint32_t* at;
    const std::uint32_t* end;
  };
  // An address's 16 bytes as two words (in memory order: masks and
  // comparisons need no byte swapping, only a consistent order).
  struct Key {
    std::uint64_t hi = 0, lo = 0;
    auto operator<=>(const Key&) const = default;
    Key operator&(const Key& mask) const { return {hi & mask.hi, lo & mask.lo}; }
  };
  struct Bucket {
    Key addr;                   // masked to the table's length
    std::uint32_t begin, end;  // its rule numbers: rules_[begin, end)
  };
  struct Table {
    int end;               // the flow's end it holds: 0 the initiator, 1 the responder
    int family;
    Key mask;                     // of its length
    // Open addressing, linear probing, at most half full; an empty slot has
    // begin == end (a bucket holds a rule at least).
    std::vector<Bucket> slots;
    int shift = 64;  // a hash's top bits index the slots: 64 - log2(slots)
    static std::uint64_t hash(const Key& k) { return (k.hi ^ (k.lo * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull; }
    const Bucket* find(const Key& masked) const {
      const std::size_t wrap = slots.size() - 1;
      for (std::size_t at = hash(masked) >> shift;; at = (at + 1) & wrap) {
        const Bucket& slot = slots[at];
        if (slot.begin == slot.end) return nullptr;
        if (slot.addr == masked) return &slot;
      }
    }
    void insert(const Bucket& bucket);
  };
  static Key key_of(const std::array<std::uint8_t, 16>& addr) {
    Key key;
    std::memcpy(&key.hi, addr.data(), 8);
    std::memcpy(&key.lo, addr.data() + 8, 8);
    return key;
  }
  static Key mask_of(std::uint8_t length);

  std::vector<Table> tables_;
  std::vector<std::uint32_t> rules_;     // the buckets' rule numbers, bucket after bucket
  // Rules without an address filed by port, for one end of the flow: those
  // of port p are rules[begin[p], begin[p + 1]), ascending (begin: empty when
  // no rule is filed for that end, else 65537 offsets).
  struct PortFilings {
    std::vector<std::uint32_t> begin;
    std::vector<std::uint32_t> rules;
  };
  PortFilings by_port_[2];               // [0] the initiator's port, [1] the responder's
  std::vector<std::uint32_t> wildcard_;  // rules neither filed by address nor by port, ascending
  std::uint32_t rule_count_ = 0;
};

}  // namespace sniffer
