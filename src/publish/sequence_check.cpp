#include "sniffer/sequence_check.hpp"

namespace sniffer {

std::uint64_t SequenceCheck::see(std::string_view topic, std::uint64_t sensor_start_ns, std::uint64_t sequence) {
  auto it = counts_.find(topic);
  if (it == counts_.end()) it = counts_.emplace(std::string(topic), SequenceCount{}).first;
  SequenceCount& c = it->second;
  const bool restart = c.batches != 0 && sensor_start_ns != c.sensor_start_ns;
  c.sensor_start_ns = sensor_start_ns;
  if (c.batches++ == 0 || restart) {
    c.restarts += restart;
    c.first = c.last = sequence;
    return 0;
  }
  if (sequence <= c.last) {
    ++c.out_of_order;
    return 0;
  }
  const std::uint64_t gap = sequence - c.last - 1;
  c.gaps += gap != 0;
  c.missing += gap;
  c.last = sequence;
  return gap;
}

const SequenceCount& SequenceCheck::count(std::string_view topic) const {
  static const SequenceCount none;
  const auto it = counts_.find(topic);
  return it == counts_.end() ? none : it->second;
}

}  // namespace sniffer
