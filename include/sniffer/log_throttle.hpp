// Repeated warnings about one key (a client, a refused CURVE key, a failing
// file): the first is logged, then at most one per interval, each saying how
// many were left out since the last. Optionally at most `max_lines` lines per
// interval over all keys, and at most `max_keys` keys remembered (a flood of
// new keys forgets the oldest, never grows without bound). Something that
// floods the daemon with bad requests must not flood its log too. One
// instance per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace sniffer {

class LogThrottle {
 public:
  struct Limits {
    std::uint64_t interval_ns = 60'000'000'000;
    std::uint32_t max_lines = 0;  // per interval, over all keys; 0: no such limit
    std::size_t max_keys = 1024;
  };
  struct Verdict {
    bool log = false;           // log this line
    bool first = false;         // the first line about this key (that is remembered)
    std::uint64_t left_out = 0; // lines about this key not logged since its last one
    // Lines max_lines held back in the interval that just ended: say so once
    // (reported by the first call of the next interval, logged or not).
    std::uint64_t capped = 0;
  };

  LogThrottle() : LogThrottle(Limits{}) {}
  explicit LogThrottle(Limits limits) : limits_(limits) {}

  Verdict check(const std::string& key, std::uint64_t now_ns) {
    Verdict v;
    if (window_start_ns_ == 0 || now_ns - window_start_ns_ >= limits_.interval_ns) {
      v.capped = window_capped_;
      window_start_ns_ = now_ns;
      window_lines_ = 0;
      window_capped_ = 0;
    }
    forget_old(now_ns);
    Entry& e = entries_[key];
    if (e.logged && now_ns - e.last_ns < limits_.interval_ns) {
      ++e.left_out;
      return v;
    }
    if (limits_.max_lines && window_lines_ >= limits_.max_lines) {
      ++window_capped_;
      return v;
    }
    ++window_lines_;
    v.log = true;
    v.first = !e.logged;
    v.left_out = e.left_out;
    e = Entry{.last_ns = now_ns, .left_out = 0, .logged = true};
    return v;
  }

  std::size_t keys() const { return entries_.size(); }

 private:
  struct Entry {
    std::uint64_t last_ns = 0;
    std::uint64_t left_out = 0;
    bool logged = false;
  };

  // At max_keys: the keys not logged within an interval go; still full, all.
  void forget_old(std::uint64_t now_ns) {
    if (entries_.size() < limits_.max_keys) return;
    std::erase_if(entries_, [&](const auto& e) { return now_ns - e.second.last_ns >= limits_.interval_ns; });
    if (entries_.size() >= limits_.max_keys) entries_.clear();
  }

  Limits limits_;
  std::map<std::string, Entry> entries_;
  std::uint64_t window_start_ns_ = 0;
  std::uint32_t window_lines_ = 0;
  std::uint64_t window_capped_ = 0;
};

}  // namespace sniffer
