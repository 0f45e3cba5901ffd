// The wait before trying again something that failed (a hook another tool
// holds or keeps removing, a state file on a full disk): 1, 2, 4 ... up to
// 30 s, so that a lasting failure costs a try every 30 s, not every second.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sniffer {

inline constexpr std::uint64_t kFirstRetryNs = 1'000'000'000;
inline constexpr std::uint64_t kLongestRetryNs = 30'000'000'000;

// The wait after `previous_ns` (0: the first).
constexpr std::uint64_t next_retry_delay_ns(std::uint64_t previous_ns) {
  return previous_ns == 0 ? kFirstRetryNs : std::min(2 * previous_ns, kLongestRetryNs);
}

}  // namespace sniffer
