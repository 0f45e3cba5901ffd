#include "sniffer/wall_clock.hpp"

#include <time.h>

namespace sniffer {

namespace {
std::uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

std::uint64_t monotonic_now_ns() { return now_ns(CLOCK_MONOTONIC); }
std::uint64_t realtime_now_ns() { return now_ns(CLOCK_REALTIME); }

void MonotonicToWall::resync() {
  // Bracket one monotonic read between two wall reads and keep the tightest
  // of a few tries, so a preemption between reads does not skew the offset.
  std::int64_t best_gap = INT64_MAX;
  for (int i = 0; i < 5; ++i) {
    std::uint64_t w1 = realtime_now_ns();
    std::uint64_t m = monotonic_now_ns();
    std::uint64_t w2 = realtime_now_ns();
    auto gap = static_cast<std::int64_t>(w2 - w1);
    if (gap < best_gap) {
      best_gap = gap;
      offset_ns_ = static_cast<std::int64_t>(w1 + (w2 - w1) / 2) - static_cast<std::int64_t>(m);
    }
  }
}

}  // namespace sniffer
