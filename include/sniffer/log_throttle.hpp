// Repeated warnings about one client: the first is logged, then at most one
// per interval, each saying how many were left out since the last. A client
// that floods the daemon with bad requests must not flood its log too.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sniffer {

class LogThrottle {
 public:
  explicit LogThrottle(std::uint64_t interval_ns = 60'000'000'000) : interval_ns_(interval_ns) {}

  // Whether a line about `key` may be logged at `now_ns`; when it may,
  // `left_out` is how many were not logged since the last one.
  bool allow(const std::string& key, std::uint64_t now_ns, std::uint64_t& left_out) {
    Entry& e = entries_[key];  // keys are authorized clients: bounded
    if (e.logged && now_ns - e.last_ns < interval_ns_) {
      ++e.left_out;
      return false;
    }
    left_out = e.left_out;
    e = Entry{.last_ns = now_ns, .left_out = 0, .logged = true};
    return true;
  }

 private:
  struct Entry {
    std::uint64_t last_ns = 0;
    std::uint64_t left_out = 0;
    bool logged = false;
  };
  std::uint64_t interval_ns_;
  std::map<std::string, Entry> entries_;
};

}  // namespace sniffer
