#include "sniffer/user_maps.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace sniffer {

namespace {

// A ring sample takes its length plus an 8-byte header, rounded up to 8.
std::uint64_t ring_footprint(std::uint64_t size) { return (size + BPF_RINGBUF_HDR_SZ + 7) & ~std::uint64_t{7}; }

}  // namespace

UserArrayMap::UserArrayMap(std::uint32_t value_size, std::uint32_t max_entries)
    : value_size_(value_size) {
  array.stride = (value_size + 7) & ~7u;
  array.entries = max_entries;
  bytes_.resize(std::size_t{array.stride} * max_entries);
  array.values = bytes_.data();
}

void* UserArrayMap::lookup(const void* key) { return array_element(key); }

long UserArrayMap::update(const void* key, const void* value, std::uint64_t flags) {
  void* slot = lookup(key);
  if (!slot) return -E2BIG;
  if (flags == BPF_NOEXIST) return -EEXIST;  // every index of an array exists
  std::memcpy(slot, value, value_size_);
  return 0;
}

UserHashMap::UserHashMap(std::uint32_t key_size, std::uint32_t value_size, std::uint32_t max_entries)
    : key_size_(key_size),
      value_size_(value_size),
      value_words_((value_size + 7) / 8),
      key_words_((key_size + 7) / 8),
      max_entries_(max_entries),
      slots_(16) {
  if (key_size == 0 || key_size > kMaxKeyBytes) {
    throw std::invalid_argument("a hash map key of " + std::to_string(key_size) + " bytes (1 to " +
                                std::to_string(kMaxKeyBytes) + " in userspace)");
  }
}

template <std::uint32_t N>
std::size_t UserHashMap::locate(const void* key, Key& words, std::uint64_t& hash) const {
  const std::uint32_t size = N ? N : key_size_;
  const std::uint32_t count = N ? (N + 7) / 8 : key_words_;
  const auto* bytes = static_cast<const std::uint8_t*>(key);
  std::uint64_t h = size;  // in a register, not through the reference
  for (std::uint32_t i = 0; i < count; ++i) {
    // Each word read into a register, the last zero-padded there: a word
    // assembled in memory from narrower stores then read back whole stalls
    // the store forwarding (half of this function's time when it did).
    std::uint64_t word = 0;
    std::memcpy(&word, bytes + i * 8, std::min<std::uint32_t>(8, size - i * 8));
    words[i] = word;
    h = (h ^ word) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  h ^= h >> 32;
  hash = h;
  return probe<N>(words, h);
}

// The slot holding the key of these words and hash, or the free slot where
// the probe ended. N as for locate.
template <std::uint32_t N>
std::size_t UserHashMap::probe(const Key& words, std::uint64_t hash) const {
  const std::uint32_t count = N ? (N + 7) / 8 : key_words_;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (!slot.entry) return i;
    if (slot.hash != hash) continue;
    const std::uint64_t* stored = slot.entry + value_words_;
    std::uint64_t differ = 0;
    for (std::uint32_t w = 0; w < count; ++w) differ |= stored[w] ^ words[w];
    if (differ == 0) return i;
  }
}

// The programs' key sizes unrolled (constant copies and compares); any other by key_size_.
std::size_t UserHashMap::locate(const void* key, Key& words, std::uint64_t& hash) const {
  switch (key_size_) {
    case 2: return locate<2>(key, words, hash);    // port_filters
    case 4: return locate<4>(key, words, hash);    // iface_configs
    case 20: return locate<20>(key, words, hash);  // local_addrs
    case 40: return locate<40>(key, words, hash);  // flows
    default: return locate<0>(key, words, hash);
  }
}

void* UserHashMap::lookup(const void* key) {
  if (count_ == 0) return nullptr;
  Key words;
  std::uint64_t hash;
  return slots_[locate(key, words, hash)].entry;
}

long UserHashMap::update(const void* key, const void* value, std::uint64_t flags) {
  Key words;
  std::uint64_t hash;
  std::size_t i = locate(key, words, hash);
  if (slots_[i].entry) {
    if (flags == BPF_NOEXIST) return -EEXIST;
    std::memcpy(slots_[i].entry, value, value_size_);
    return 0;
  }
  if (flags == BPF_EXIST) return -ENOENT;
  if (count_ >= max_entries_) return -E2BIG;
  if (std::size_t{count_ + 1} * 2 > slots_.size()) {
    grow();
    i = probe<0>(words, hash);
  }
  std::uint64_t* entry = allocate();
  std::memcpy(entry, value, value_size_);
  std::memcpy(entry + value_words_, words.data(), std::size_t{key_words_} * 8);
  slots_[i] = Slot{hash, entry};
  ++count_;
  return 0;
}

long UserHashMap::take(const void* key, void* value) {
  Key words;
  std::uint64_t hash;
  const std::size_t i = locate(key, words, hash);
  if (!slots_[i].entry) return -ENOENT;
  std::memcpy(value, slots_[i].entry, value_size_);
  free_.push_back(slots_[i].entry);
  erase(i);
  --count_;
  return 0;
}

// Backward-shift deletion: the entries after the freed slot that probed past
// it move back, so that every probe still ends at a free slot after its key.
void UserHashMap::erase(std::size_t slot) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = slot;
  for (std::size_t i = (slot + 1) & mask; slots_[i].entry; i = (i + 1) & mask) {
    const std::size_t home = slots_[i].hash & mask;
    // Moves back unless its home lies cyclically in (hole, i].
    const bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
    if (!stays) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
}

void UserHashMap::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (!s.entry) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].entry) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

std::uint64_t* UserHashMap::allocate() {
  if (free_.empty()) {
    // Chunks of 1, 2, 4, ... up to 1,024 entries: a small map stays small.
    const std::size_t entries = std::size_t{1} << std::min<std::size_t>(chunks_.size(), 10);
    const std::size_t words = value_words_ + key_words_;
    chunks_.push_back(std::make_unique<std::uint64_t[]>(entries * words));
    for (std::size_t e = entries; e-- > 0;) free_.push_back(chunks_.back().get() + e * words);
  }
  std::uint64_t* entry = free_.back();
  free_.pop_back();
  return entry;
}

void UserHashMap::for_each(const std::function<void(const void* key, const void* value)>& visit) const {
  for (const Slot& s : slots_) {
    if (s.entry) visit(s.entry + value_words_, s.entry);
  }
}

namespace {

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
  if (size() == 0) return nullptr;
  std::array<std::uint8_t, UserLpmTrie::kMaxKeyBytes> probe;
  for (std::uint32_t len = std::min(wanted, max_bits) + 1; len-- > 0;) {
    if (!(lengths_[len / 64] >> (len % 64) & 1)) continue;
    masked_lpm_key(key, key_size_, len, probe.data());
    if (void* v = UserHashMap::lookup(probe.data())) return v;
  }
  return nullptr;
}

long UserLpmTrie::update(const void* key, const void* value, std::uint64_t flags) {
  std::uint32_t prefixlen;
  std::memcpy(&prefixlen, key, sizeof prefixlen);
  if (prefixlen > (key_size_ - 4) * 8) return -EINVAL;
  std::array<std::uint8_t, UserLpmTrie::kMaxKeyBytes> normal;
  masked_lpm_key(key, key_size_, prefixlen, normal.data());
  const long err = UserHashMap::update(normal.data(), value, flags);
  if (err == 0) lengths_[prefixlen / 64] |= std::uint64_t{1} << (prefixlen % 64);
  return err;
}

// A reserved record: its ring and size in a header before the bytes the
// program fills, so that submit (which gets only the bytes) finds them.
struct UserRingBuffer::Reservation {
  static constexpr std::size_t kHeader = 16;
  UserRingBuffer* ring = nullptr;
  std::uint64_t size = 0;
  // Header + record, 8-byte aligned; reused, so not cleared: as the kernel's
  // ring, a record holds what the programs write into it.
  std::unique_ptr<std::uint64_t[]> words;
  std::size_t capacity = 0;  // words

  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(words.get()) + kHeader; }
  // Room for len bytes after the header (the words kept when large enough),
  // the header pointing back here; returns where the len bytes go.
  std::uint8_t* fit(UserRingBuffer* owner, std::uint64_t len) {
    ring = owner;
    if (const std::size_t need = (kHeader + len + 7) / 8; need > capacity) {
      words = std::make_unique_for_overwrite<std::uint64_t[]>(need);
      capacity = need;
    }
    Reservation* self = this;
    std::memcpy(words.get(), &self, sizeof self);
    return bytes();
  }
  static Reservation* of(void* data) {
    Reservation* r;
    std::memcpy(&r, static_cast<std::uint8_t*>(data) - kHeader, sizeof r);
    return r;
  }
};

UserRingBuffer::UserRingBuffer(std::uint32_t capacity) : capacity_(capacity) {}
UserRingBuffer::~UserRingBuffer() {
  if (area_ring_ == this) area_ring_ = nullptr;
}

void* UserRingBuffer::reserve(std::uint64_t size) {
  if (queued_ + ring_footprint(size) > capacity_) return nullptr;  // as a full ring
  std::unique_ptr<Reservation> r;
  if (free_.empty()) {
    r = std::make_unique<Reservation>();
  } else {
    r = std::move(free_.back());
    free_.pop_back();
  }
  r->size = size;
  std::uint8_t* const data = r.release()->fit(this, size);
  queued_ += ring_footprint(size);
  return data;
}

void* UserRingBuffer::record_area(std::uint64_t max_size, void* at) {
  if (!at) {
    own_area_ = std::make_unique_for_overwrite<std::uint64_t[]>((max_size + 7) / 8);
    at = own_area_.get();
  }
  area_ = at;
  area_ring_ = this;
  return at;
}

void* UserRingBuffer::reserve_at(void* at, std::uint64_t size) {
  if (queued_ + ring_footprint(size) > capacity_) return nullptr;  // as a full ring
  area_size_ = size;
  queued_ += ring_footprint(size);
  return at;
}

void UserRingBuffer::submit(void* data) {
  if (UserRingBuffer* ring = area_ring_; ring && data == ring->area_) {  // the record area, no header before it
    ring->sink_(data, ring->area_size_);
    ring->queued_ -= ring_footprint(ring->area_size_);
    return;
  }
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

// bpf_get_prandom_u32's state: xorshift64* (Vigna), seeded once at start. A
// packet sample (flows.packet_sample) draws one a packet under kernel
// aggregation: the library's minstd_rand, behind its static's guard and a
// 64-bit remainder, was ~1 % of such a run.
std::uint64_t prandom_state = [] {
  std::random_device device;
  const std::uint64_t seed = (std::uint64_t{device()} << 32) | device();
  return seed ? seed : 0x9e3779b97f4a7c15ull;  // never 0: xorshift would stay there
}();
sniffer::UserRingBuffer* ring_of(void* map) { return static_cast<sniffer::UserRingBuffer*>(store_of(map)); }
}  // namespace

extern "C" {

void* sniffer_user_map_lookup(void* map, const void* key) {
  sniffer_user_map* store = store_of(map);
  return store->array.values ? store->array_element(key) : store->lookup(key);  // an array without the virtual call
}

long sniffer_user_map_update(void* map, const void* key, const void* value, __u64 flags) {
  return store_of(map)->update(key, value, flags);
}

void* sniffer_user_ringbuf_reserve(void* map, __u64 size, __u64) { return ring_of(map)->reserve(size); }

void* sniffer_user_ringbuf_reserve_at(void* map, void* at, __u64 size) { return ring_of(map)->reserve_at(at, size); }

void sniffer_user_ringbuf_submit(void* data, __u64) { sniffer::UserRingBuffer::submit(data); }

long sniffer_user_ringbuf_output(void* map, void* data, __u64 size, __u64) { return ring_of(map)->output(data, size); }

__u64 sniffer_user_ringbuf_query(void* map, __u64) { return ring_of(map)->queued(); }

__u32 sniffer_user_prandom_u32(void) {
  std::uint64_t x = prandom_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  prandom_state = x;
  return static_cast<__u32>((x * 0x2545f4914f6cdd1dull) >> 32);
}

}  // extern "C"
