#include "sniffer/flow_index.hpp"

#include <algorithm>
#include <bit>
#include <random>

namespace sniffer {

namespace {

constexpr std::size_t kMinBuckets = 16;

}  // namespace

std::uint64_t flow_index_random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

FlowIndex::FlowIndex(std::uint32_t max_entries, std::uint64_t seed)
    : seed_(seed),
      max_entries_(max_entries == 0 ? 1 : max_entries),
      max_buckets_(std::bit_ceil(2 * max_entries_)) {
  clear();
}

void FlowIndex::clear() {
  const std::size_t n = std::min(kMinBuckets, max_buckets_);
  buckets_ = std::make_unique<Bucket[]>(n);
  for (std::size_t i = 0; i < n; ++i) buckets_[i] = {0, kNone};
  mask_ = n - 1;
  size_ = 0;
}

void FlowIndex::place(Bucket b) {
  std::size_t i = b.hash & mask_;
  while (buckets_[i].slot != kNone) i = (i + 1) & mask_;
  buckets_[i] = b;
}

void FlowIndex::grow() {
  const std::size_t old_n = mask_ + 1, n = 2 * old_n;
  std::unique_ptr<Bucket[]> old = std::move(buckets_);
  buckets_ = std::make_unique<Bucket[]>(n);
  for (std::size_t i = 0; i < n; ++i) buckets_[i] = {0, kNone};
  mask_ = n - 1;
  for (std::size_t i = 0; i < old_n; ++i) {
    if (old[i].slot != kNone) place(old[i]);
  }
}

bool FlowIndex::insert(std::uint32_t h, std::uint32_t slot) {
  if (size_ >= max_entries_ || slot == kNone) return false;
  // At most half full: probe clusters stay short and there is always an empty bucket.
  if (2 * (size_ + 1) > mask_ + 1) grow();
  place({h, slot});
  ++size_;
  return true;
}

bool FlowIndex::erase(std::uint32_t h, std::uint32_t slot) {
  std::size_t i = h & mask_;
  for (;; i = (i + 1) & mask_) {
    if (buckets_[i].slot == kNone) return false;
    if (buckets_[i].slot == slot) break;
  }
  // Backward shift: pull later members of the cluster into the hole when the
  // hole lies on their probe path (between their home bucket and them).
  for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    const Bucket& b = buckets_[j];
    if (b.slot == kNone) break;
    const std::size_t home = b.hash & mask_;
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      buckets_[i] = b;
      i = j;
    }
  }
  buckets_[i] = {0, kNone};
  --size_;
  return true;
}

}  // namespace sniffer
