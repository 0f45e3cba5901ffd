#include "sniffer/user_maps.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>

namespace sniffer {

namespace {

std::uint32_t key_index(const void* key) {
  std::uint32_t index;
  std::memcpy(&index, key, sizeof index);
  return index;
}

// A ring sample takes its length plus an 8-byte header, rounded up to 8.
std::uint64_t ring_footprint(std::uint64_t size) { return (size + BPF_RINGBUF_HDR_SZ + 7) & ~std::uint64_t{7}; }

}  // namespace

UserArrayMap::UserArrayMap(std::uint32_t value_size, std::uint32_t max_entries)
    : value_size_(value_size),
      stride_((value_size + 7) & ~7u),
      max_entries_(max_entries),
      bytes_(std::size_t{stride_} * max_entries) {}

void* UserArrayMap::lookup(const void* key) {
  const std::uint32_t index = key_index(key);
  return index < max_entries_ ? bytes_.data() + std::size_t{index} * stride_ : nullptr;
}

long UserArrayMap::update(const void* key, const void* value, std::uint64_t flags) {
  void* slot = lookup(key);
  if (!slot) return -E2BIG;
  if (flags == BPF_NOEXIST) return -EEXIST;  // every index of an array exists
  std::memcpy(slot, value, value_size_);
  return 0;
}

UserHashMap::UserHashMap(std::uint32_t key_size, std::uint32_t value_size, std::uint32_t max_entries)
    : key_size_(key_size), value_size_(value_size), value_words_((value_size + 7) / 8), max_entries_(max_entries) {
  entries_.reserve(std::min<std::uint32_t>(max_entries, 65536));  // few rehashes, a bounded index
}

void* UserHashMap::lookup(const void* key) {
  auto it = entries_.find(std::string_view(static_cast<const char*>(key), key_size_));
  return it == entries_.end() ? nullptr : it->second.get();
}

long UserHashMap::update(const void* key, const void* value, std::uint64_t flags) {
  std::string_view k(static_cast<const char*>(key), key_size_);
  auto it = entries_.find(k);
  if (it != entries_.end()) {
    if (flags == BPF_NOEXIST) return -EEXIST;
    std::memcpy(it->second.get(), value, value_size_);
    return 0;
  }
  if (flags == BPF_EXIST) return -ENOENT;
  if (entries_.size() >= max_entries_) return -E2BIG;
  auto entry = std::make_unique<std::uint64_t[]>(value_words_ + (key_size_ + 7) / 8);
  std::memcpy(entry.get(), value, value_size_);
  char* stored_key = reinterpret_cast<char*>(entry.get() + value_words_);
  std::memcpy(stored_key, key, key_size_);
  entries_.emplace(std::string_view(stored_key, key_size_), std::move(entry));
  return 0;
}

long UserHashMap::take(const void* key, void* value) {
  auto it = entries_.find(std::string_view(static_cast<const char*>(key), key_size_));
  if (it == entries_.end()) return -ENOENT;
  std::memcpy(value, it->second.get(), value_size_);
  entries_.erase(it);
  return 0;
}

void UserHashMap::for_each(const std::function<void(const void* key, const void* value)>& visit) const {
  for (const auto& [key, value] : entries_) visit(key.data(), value.get());
}

namespace {

constexpr std::size_t kMaxLpmKey = 4 + 16;  // prefixlen + an IPv6 address

// An LPM key with the address bits past prefixlen cleared (the trie's own
// normal form), in `out` (key_size bytes).
void masked_lpm_key(const void* key, std::uint32_t key_size, std::uint32_t prefixlen, std::uint8_t* out) {
  std::memcpy(out, key, key_size);
  std::memcpy(out, &prefixlen, sizeof prefixlen);
  std::uint8_t* addr = out + sizeof prefixlen;
  const std::uint32_t bytes = key_size - sizeof prefixlen;
  for (std::uint32_t i = 0; i < bytes; ++i) {
    const std::uint32_t first_bit = i * 8;
    if (prefixlen <= first_bit) addr[i] = 0;
    else if (prefixlen < first_bit + 8) addr[i] &= static_cast<std::uint8_t>(0xff << (first_bit + 8 - prefixlen));
  }
}

}  // namespace

void* UserLpmTrie::lookup(const void* key) {
  std::uint32_t wanted;
  std::memcpy(&wanted, key, sizeof wanted);
  const std::uint32_t max_bits = (key_size_ - 4) * 8;
  std::array<std::uint8_t, kMaxLpmKey> probe;
  for (std::uint32_t len = std::min(wanted, max_bits) + 1; len-- > 0;) {
    masked_lpm_key(key, key_size_, len, probe.data());
    if (void* v = UserHashMap::lookup(probe.data())) return v;
  }
  return nullptr;
}

long UserLpmTrie::update(const void* key, const void* value, std::uint64_t flags) {
  std::uint32_t prefixlen;
  std::memcpy(&prefixlen, key, sizeof prefixlen);
  if (prefixlen > (key_size_ - 4) * 8) return -EINVAL;
  std::array<std::uint8_t, kMaxLpmKey> normal;
  masked_lpm_key(key, key_size_, prefixlen, normal.data());
  return UserHashMap::update(normal.data(), value, flags);
}

// A reserved record: its ring and size in a header before the bytes the
// program fills, so that submit (which gets only the bytes) finds them.
struct UserRingBuffer::Reservation {
  static constexpr std::size_t kHeader = 16;
  UserRingBuffer* ring = nullptr;
  std::uint64_t size = 0;
  std::vector<std::uint64_t> words;  // header + record, 8-byte aligned

  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(words.data()) + kHeader; }
  static Reservation* of(void* data) {
    Reservation* r;
    std::memcpy(&r, static_cast<std::uint8_t*>(data) - kHeader, sizeof r);
    return r;
  }
};

UserRingBuffer::UserRingBuffer(std::uint32_t capacity) : capacity_(capacity) {}
UserRingBuffer::~UserRingBuffer() = default;

void* UserRingBuffer::reserve(std::uint64_t size) {
  if (queued_ + ring_footprint(size) > capacity_) return nullptr;  // as a full ring
  std::unique_ptr<Reservation> r;
  if (free_.empty()) {
    r = std::make_unique<Reservation>();
  } else {
    r = std::move(free_.back());
    free_.pop_back();
  }
  r->ring = this;
  r->size = size;
  r->words.resize((Reservation::kHeader + size + 7) / 8);
  Reservation* raw = r.release();
  std::memcpy(reinterpret_cast<std::uint8_t*>(raw->words.data()), &raw, sizeof raw);
  queued_ += ring_footprint(size);
  return raw->bytes();
}

void UserRingBuffer::submit(void* data) {
  std::unique_ptr<Reservation> r(Reservation::of(data));
  UserRingBuffer& ring = *r->ring;
  ring.sink_(r->bytes(), r->size);
  ring.queued_ -= ring_footprint(r->size);
  ring.free_.push_back(std::move(r));
}

long UserRingBuffer::output(const void* data, std::uint64_t size) {
  if (queued_ + ring_footprint(size) > capacity_) return -EAGAIN;
  sink_(data, size);
  return 0;
}

}  // namespace sniffer

// The helpers of bpf/userspace/bpf/bpf_helpers.h: a map argument is the map
// definition, whose first member points to its store.
namespace {
sniffer_user_map* store_of(void* map) { return *static_cast<sniffer_user_map**>(map); }
sniffer::UserRingBuffer* ring_of(void* map) { return static_cast<sniffer::UserRingBuffer*>(store_of(map)); }
}  // namespace

extern "C" {

void* sniffer_user_map_lookup(void* map, const void* key) { return store_of(map)->lookup(key); }

long sniffer_user_map_update(void* map, const void* key, const void* value, __u64 flags) {
  return store_of(map)->update(key, value, flags);
}

void* sniffer_user_ringbuf_reserve(void* map, __u64 size, __u64) { return ring_of(map)->reserve(size); }

void sniffer_user_ringbuf_submit(void* data, __u64) { sniffer::UserRingBuffer::submit(data); }

long sniffer_user_ringbuf_output(void* map, void* data, __u64 size, __u64) { return ring_of(map)->output(data, size); }

__u64 sniffer_user_ringbuf_query(void* map, __u64) { return ring_of(map)->queued(); }

__u32 sniffer_user_prandom_u32(void) {
  static std::minstd_rand generator(std::random_device{}());
  return static_cast<__u32>(generator());
}

}  // extern "C"
