// Converts the kernel's CLOCK_MONOTONIC stamps (bpf_ktime_get_ns) to wall
// time explicitly: monotonic time is boot-relative, never epoch time.
#pragma once

#include <cstdint>

namespace sniffer {

class MonotonicToWall {
 public:
  MonotonicToWall() { resync(); }
  // Re-measures the offset (call now and then: NTP moves the wall clock).
  void resync();
  std::uint64_t to_wall_ns(std::uint64_t monotonic_ns) const {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(monotonic_ns) + offset_ns_);
  }
  std::int64_t offset_ns() const { return offset_ns_; }

 private:
  std::int64_t offset_ns_ = 0;
};

std::uint64_t monotonic_now_ns();
std::uint64_t realtime_now_ns();

}  // namespace sniffer
