// A token bucket per client: `rate_per_s` commands a second on average,
// bursts up to `burst`. Time is passed in, so tests need no clock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

namespace sniffer {

class RateLimiter {
 public:
  RateLimiter(double rate_per_s, std::uint32_t burst) : rate_per_ns_(rate_per_s / 1e9), burst_(burst) {}

  // Takes one token of `client`'s bucket at `now_ns`; false when it is empty.
  bool allow(const std::string& client, std::uint64_t now_ns) {
    auto [it, fresh] = buckets_.try_emplace(client, Bucket{static_cast<double>(burst_), now_ns});
    Bucket& b = it->second;
    if (!fresh && now_ns > b.last_ns) {
      b.tokens = std::min<double>(burst_, b.tokens + static_cast<double>(now_ns - b.last_ns) * rate_per_ns_);
    }
    b.last_ns = std::max(b.last_ns, now_ns);
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    std::uint64_t last_ns;
  };
  double rate_per_ns_;
  std::uint32_t burst_;
  std::map<std::string, Bucket> buckets_;  // one per client key: bounded by the authorized keys
};

}  // namespace sniffer
