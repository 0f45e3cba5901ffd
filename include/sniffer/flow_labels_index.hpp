// The --labels rules by address (FlowLabels' index): which rules could match
// a flow at all, so that a flow is checked against those, not every rule.
//
// A rule with an address is filed under one of its prefixes (the longer of
// src and dst; src on a tie), as its masked address in a sorted table per
// family and length, for the end of a flow it must hold: a src prefix under
// the flow's initiator, a dst prefix under its responder; a rule of direction
// "either" also under the other end (its reverse orientation). A rule without
// an address is on the wildcard list. A flow's candidates are then the rules
// filed under its initiator's masked address (one look-up per length present),
// under its responder's, and the wildcard list: each list in rule order, a
// rule possibly on two. Memory: a rule number (4 bytes) per filing, at most
// two a rule, and a 24-byte bucket per distinct masked address.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "sniffer/prefix.hpp"

namespace sniffer {

struct LabelRule;

class LabelRuleIndex {
 public:
  LabelRuleIndex() = default;
  explicit LabelRuleIndex(const std::vector<LabelRule>& rules);

  // Calls visit(std::span<const std::uint32_t>) with each list of rule
  // numbers (ascending) that may match a flow from `src` to `dst` (hosts; a
  // family of 0 has none): every rule the flow matches is on one of them.
  template <class Visit>
  void candidates(const Prefix& src, const Prefix& dst, Visit&& visit) const {
    sides_[0].containing(src.family, key_of(src.addr), rules_, visit);
    sides_[1].containing(dst.family, key_of(dst.addr), rules_, visit);
    if (!wildcard_.empty()) visit(std::span<const std::uint32_t>(wildcard_));
  }

 private:
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
    int family;
    Key mask;                     // of its length
    std::vector<Bucket> buckets;  // by addr
    const Bucket* find(const Key& masked) const {
      auto it = std::lower_bound(buckets.begin(), buckets.end(), masked,
                                 [](const Bucket& b, const Key& k) { return b.addr < k; });
      return it != buckets.end() && it->addr == masked ? &*it : nullptr;
    }
  };
  // The tables of one end of the flow (0: initiator, 1: responder).
  struct Side {
    std::vector<Table> tables;
    template <class Visit>
    void containing(int family, const Key& host, const std::vector<std::uint32_t>& rules, Visit& visit) const {
      for (const Table& table : tables) {
        if (table.family != family) continue;
        if (const Bucket* b = table.find(host & table.mask)) {
          visit(std::span<const std::uint32_t>(rules.data() + b->begin, b->end - b->begin));
        }
      }
    }
  };
  static Key key_of(const std::array<std::uint8_t, 16>& addr) {
    Key key;
    std::memcpy(&key.hi, addr.data(), 8);
    std::memcpy(&key.lo, addr.data() + 8, 8);
    return key;
  }
  static Key mask_of(std::uint8_t length);

  std::array<Side, 2> sides_;
  std::vector<std::uint32_t> rules_;     // the buckets' rule numbers, bucket after bucket
  std::vector<std::uint32_t> wildcard_;  // rules without an address, ascending
};

}  // namespace sniffer
