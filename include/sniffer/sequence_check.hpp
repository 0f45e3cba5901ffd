// The batch sequence numbers of a sensor's topics as a subscriber receives
// them (sniffer-sub, bench/sub_fast). The publisher numbers each topic's
// batches 1, 2, ... (one counter per topic whichever worker made the batch,
// +1 per batch it sent or refused at the high-water mark: sniffer/publisher.hpp),
// so a number that never arrives is a lost batch. The first number received is
// where the subscriber came in (batches sent before it are not losses); a new
// sensor_start_ns is a sensor restart, whose sequence starts over.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace sniffer {

// One topic's batches so far.
struct SequenceCount {
  std::uint64_t batches = 0;       // received
  std::uint64_t first = 0;         // the first sequence received (after the last restart: its first)
  std::uint64_t last = 0;          // the highest sequence received since the last restart
  std::uint64_t gaps = 0;          // runs of missing numbers
  std::uint64_t missing = 0;       // numbers never received: lost batches
  std::uint64_t out_of_order = 0;  // a repeat or a number below `last` (the publisher's lock allows neither)
  std::uint64_t restarts = 0;      // batches with a new sensor_start_ns
  std::uint64_t sensor_start_ns = 0;  // the last batch's

  bool operator==(const SequenceCount&) const = default;
};

class SequenceCheck {
 public:
  // One batch of `topic`. Returns the batches missing right before it: 0 for
  // the topic's first batch, after a restart, and for a repeat or a
  // reordering (counted in out_of_order, `last` kept).
  std::uint64_t see(std::string_view topic, std::uint64_t sensor_start_ns, std::uint64_t sequence);

  // The topic's counts (all 0 before its first batch).
  const SequenceCount& count(std::string_view topic) const;
  // Every topic seen, by name.
  const std::map<std::string, SequenceCount, std::less<>>& topics() const { return counts_; }

 private:
  std::map<std::string, SequenceCount, std::less<>> counts_;
};

}  // namespace sniffer
