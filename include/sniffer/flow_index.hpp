// The flow table's index: an open-addressing hash table from a flow's hash to
// its slot number in the table. Linear probing over a power-of-two bucket
// array kept at most half full; deletion by backward shift, so there are no
// tombstones and a lookup never scans more than the cluster it lands in.
//
// A bucket holds only the 32-bit hash and the slot number (8 bytes): the key
// itself lives in the slot, and find() asks the caller to compare it, which
// happens only when the cached hash already matches. A miss therefore reads
// the index alone, and a hit reads the slot it needs next anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "sniffer/flow_state.hpp"

namespace sniffer {

// Keys are hashed and compared as five raw 8-byte words: no padding bytes.
static_assert(sizeof(FlowKey) == 40 && std::has_unique_object_representations_v<FlowKey>);

namespace flow_index_detail {
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
// wyhash's constants.
constexpr std::uint64_t kP0 = 0xa0761d6478bd642full, kP1 = 0xe7037ed1a0b428dbull, kP2 = 0x8ebc6af09c88c6e3ull,
                        kP3 = 0x589965cc75374cc3ull;
}  // namespace flow_index_detail

// 32-bit seeded hash of a flow key (wyhash-style 64x64->128-bit multiply
// folding over the key's five 8-byte words): three multiplies instead of
// FNV-1a's 40 dependent ones, well mixed in the low bits the index masks with.
// Keys come from packets, so an attacker picks them: with a seed it does not
// know, it cannot aim many keys at one probe cluster.
inline std::uint32_t flow_index_hash(const FlowKey& k, std::uint64_t seed) {
  using namespace flow_index_detail;
  std::uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  const std::uint64_t s = seed ^ kP0;
  const std::uint64_t a = mum(w[0] ^ s, w[1] ^ kP1 ^ seed);
  const std::uint64_t b = mum(w[2] ^ kP2 ^ s, w[3] ^ kP3 ^ seed);
  const std::uint64_t h = mum(a ^ w[4] ^ kP1, b ^ s);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

// FlowKey::operator== as five word compares (it calls memcmp twice).
inline bool flow_keys_equal(const FlowKey& x, const FlowKey& y) {
  std::uint64_t a[5], b[5];
  std::memcpy(a, &x, sizeof a);
  std::memcpy(b, &y, sizeof b);
  return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

// A seed from std::random_device (FlowIndex's default).
std::uint64_t flow_index_random_seed();

class FlowIndex {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;  // "no slot"; never a valid slot number

  // Holds up to max(max_entries, 1) entries. The bucket array grows on demand
  // (doubling) up to the smallest power of two >= 2 x that, so memory follows
  // the entries present and the load factor never exceeds 1/2.
  explicit FlowIndex(std::uint32_t max_entries, std::uint64_t seed = flow_index_random_seed());

  // The hash find(), insert() and erase() expect for k.
  std::uint32_t hash(const FlowKey& k) const { return flow_index_hash(k, seed_); }

  std::size_t size() const { return size_; }
  std::size_t max_entries() const { return max_entries_; }
  std::size_t bucket_count() const { return mask_ + 1; }
  std::size_t max_bucket_count() const { return max_buckets_; }

  // The slot of the entry with hash h for which is_key(slot) holds, or kNone.
  template <class IsKey>
  std::uint32_t find(std::uint32_t h, IsKey&& is_key) const {
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.slot == kNone) return kNone;
      if (b.hash == h && is_key(b.slot)) return b.slot;
    }
  }

  // Starts fetching the bucket a lookup of h reads first (only a hint).
  void prefetch(std::uint32_t h) const { __builtin_prefetch(&buckets_[h & mask_]); }

  // Adds (h, slot); the caller guarantees the key is not present yet.
  // Returns false (and changes nothing) when size() == max_entries() or slot == kNone.
  bool insert(std::uint32_t h, std::uint32_t slot);

  // Removes the entry (h, slot): slot numbers are unique, so no key compare.
  // Returns false if there is none.
  bool erase(std::uint32_t h, std::uint32_t slot);

  void clear();

 private:
  struct Bucket {
    std::uint32_t hash;
    std::uint32_t slot;  // kNone: empty
  };

  void grow();
  void place(Bucket b);  // into the first empty bucket of its probe sequence

  std::uint64_t seed_;
  std::size_t max_entries_;
  std::size_t max_buckets_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::unique_ptr<Bucket[]> buckets_;
};

}  // namespace sniffer
