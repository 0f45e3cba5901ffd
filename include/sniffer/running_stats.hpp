// Bounded-memory statistics of a stream of values (Welford's method):
// count, min, max, mean, sample standard deviation, total.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sniffer {

class RunningStats {
 public:
  void add(double x) {
    ++count_;
    total_ += x;
    double delta = x - mean_;
    mean_ += delta / static_cast<double>(count_);
    m2_ += delta * (x - mean_);
    min_ = count_ == 1 ? x : std::min(min_, x);
    max_ = count_ == 1 ? x : std::max(max_, x);
  }
  std::uint64_t count() const { return count_; }
  double min() const { return count_ ? min_ : 0.0; }
  double max() const { return count_ ? max_ : 0.0; }
  double mean() const { return count_ ? mean_ : 0.0; }
  double total() const { return total_; }
  // Sample standard deviation (n - 1), as CICFlowMeter's; 0 below two values.
  double std() const { return count_ > 1 ? std::sqrt(m2_ / static_cast<double>(count_ - 1)) : 0.0; }
  double variance() const { return count_ > 1 ? m2_ / static_cast<double>(count_ - 1) : 0.0; }

 private:
  std::uint64_t count_ = 0;
  double total_ = 0, mean_ = 0, m2_ = 0, min_ = 0, max_ = 0;
};

}  // namespace sniffer
