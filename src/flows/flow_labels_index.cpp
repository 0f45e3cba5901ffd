// The --labels rules filed by address prefix (flow_labels_index.hpp): built
// once from the rules, looked up per flow by FlowLabels::label_of.
#include "sniffer/flow_labels_index.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>

#include "sniffer/flow_labels.hpp"

namespace sniffer {

LabelRuleIndex::Key LabelRuleIndex::mask_of(std::uint8_t length) {
  std::array<std::uint8_t, 16> bytes{};
  for (int bit = 0; bit < length && bit < 128; ++bit) bytes[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  return key_of(bytes);
}

void LabelRuleIndex::Table::insert(const Bucket& bucket) {
  const std::size_t wrap = slots.size() - 1;
  std::size_t at = hash(bucket.addr) >> shift;
  while (slots[at].begin != slots[at].end) at = (at + 1) & wrap;
  slots[at] = bucket;
}

LabelRuleIndex::LabelRuleIndex(const std::vector<LabelRule>& rules) : rule_count_(static_cast<std::uint32_t>(rules.size())) {
  // (flow end, family, length) -> (masked address, rule number), in rule order.
  std::map<std::tuple<int, int, std::uint8_t>, std::vector<std::pair<Key, std::uint32_t>>> filings;
  // (flow end, port, rule number), in rule order, for the rules without an address.
  std::vector<std::pair<std::uint16_t, std::uint32_t>> port_filings[2];
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const LabelRule& rule = rules[i];
    const bool by_src = rule.src && (!rule.dst || rule.src->length >= rule.dst->length);
    const std::optional<Prefix>& key = by_src ? rule.src : rule.dst;
    if (!key) {
      const bool by_dst_port = rule.dst_port.lo == rule.dst_port.hi;
      if (!by_dst_port && rule.src_port.lo != rule.src_port.hi) {
        wildcard_.push_back(i);
        continue;
      }
      const int end = by_dst_port ? 1 : 0;
      const std::uint16_t port = by_dst_port ? rule.dst_port.lo : rule.src_port.lo;
      port_filings[end].emplace_back(port, i);
      // Reversed, its dst port is held against the flow's initiator.
      if (rule.direction == LabelDirection::Either) port_filings[1 - end].emplace_back(port, i);
      continue;
    }
    const int end = by_src ? 0 : 1;
    const std::pair filing{key_of(key->addr) & mask_of(key->length), i};
    filings[{end, key->family, key->length}].push_back(filing);
    // Its reverse orientation holds the same prefix against the other end.
    if (rule.direction == LabelDirection::Either) filings[{1 - end, key->family, key->length}].push_back(filing);
  }
  for (auto& [where, list] : filings) {
    // Stable: the rules of one address stay in rule order.
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Table table{std::get<0>(where), std::get<1>(where), mask_of(std::get<2>(where)), {}};
    std::vector<Bucket> buckets;
    for (std::size_t at = 0; at < list.size();) {
      const auto begin = static_cast<std::uint32_t>(rules_.size());
      const Key addr = list[at].first;
      for (; at < list.size() && list[at].first == addr; ++at) rules_.push_back(list[at].second);
      buckets.push_back({addr, begin, static_cast<std::uint32_t>(rules_.size())});
    }
    std::size_t size = 2;
    while (size < 2 * buckets.size()) size *= 2;
    table.slots.assign(size, Bucket{{}, 0, 0});
    table.shift = 64 - std::countr_zero(size);
    for (const Bucket& bucket : buckets) table.insert(bucket);
    tables_.push_back(std::move(table));
  }
  for (int end = 0; end < 2; ++end) {
    const auto& list = port_filings[end];
    if (list.empty()) continue;
    PortFilings& filed = by_port_[end];
    // Counted, then placed: each port's rules keep the rule order they came in.
    filed.begin.assign(65537, 0);
    for (const auto& [port, number] : list) ++filed.begin[port + 1];
    for (std::size_t p = 1; p < filed.begin.size(); ++p) filed.begin[p] += filed.begin[p - 1];
    filed.rules.resize(list.size());
    std::vector<std::uint32_t> next(filed.begin.begin(), filed.begin.end() - 1);
    for (const auto& [port, number] : list) filed.rules[next[port]++] = number;
  }
}

}  // namespace sniffer
