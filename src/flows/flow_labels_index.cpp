// The --labels rules filed by address prefix (flow_labels_index.hpp): built
// once from the rules, looked up per flow by FlowLabels::label_of.
#include "sniffer/flow_labels_index.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "sniffer/flow_labels.hpp"

namespace sniffer {

namespace {

// One filing of a rule: under which masked address.
struct Filing {
  std::array<std::uint8_t, 16> addr;
  std::uint32_t rule;
};

}  // namespace

LabelRuleIndex::Address LabelRuleIndex::masked(const Address& addr, std::uint8_t length) {
  Address out{};
  const std::size_t whole = std::min<std::size_t>(length / 8, out.size());
  std::copy_n(addr.begin(), whole, out.begin());
  if (whole < out.size() && length % 8) out[whole] = addr[whole] & static_cast<std::uint8_t>(0xff00 >> (length % 8));
  return out;
}

const LabelRuleIndex::Bucket* LabelRuleIndex::Table::find(const Address& masked) const {
  auto it = std::lower_bound(buckets.begin(), buckets.end(), masked,
                             [](const Bucket& b, const Address& a) { return b.addr < a; });
  return it != buckets.end() && it->addr == masked ? &*it : nullptr;
}

LabelRuleIndex::LabelRuleIndex(const std::vector<LabelRule>& rules) {
  // (side, family, length) -> filings, in rule order.
  std::map<std::tuple<int, int, int>, std::vector<Filing>> filings;
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const LabelRule& rule = rules[i];
    const bool by_src = rule.src && (!rule.dst || rule.src->length >= rule.dst->length);
    const std::optional<Prefix>& key = by_src ? rule.src : rule.dst;
    if (!key) {
      wildcard_.push_back(i);
      continue;
    }
    const int side = by_src ? 0 : 1;
    const Filing filing{masked(key->addr, key->length), i};
    filings[{side, key->family, key->length}].push_back(filing);
    // Its reverse orientation holds the same prefix against the other end.
    if (rule.direction == LabelDirection::Either) filings[{1 - side, key->family, key->length}].push_back(filing);
  }
  for (auto& [where, list] : filings) {
    // Stable: the rules of one address stay in rule order.
    std::stable_sort(list.begin(), list.end(), [](const Filing& a, const Filing& b) { return a.addr < b.addr; });
    Table table{std::get<1>(where), static_cast<std::uint8_t>(std::get<2>(where)), {}};
    for (std::size_t at = 0; at < list.size();) {
      const auto begin = static_cast<std::uint32_t>(rules_.size());
      const Address& addr = list[at].addr;
      for (; at < list.size() && list[at].addr == addr; ++at) rules_.push_back(list[at].rule);
      table.buckets.push_back({addr, begin, static_cast<std::uint32_t>(rules_.size())});
    }
    sides_[std::get<0>(where)].tables.push_back(std::move(table));
  }
}

}  // namespace sniffer
