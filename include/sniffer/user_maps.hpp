// The user engine's maps: what the programs' map helpers reach in userspace
// (bpf/userspace/bpf/bpf_helpers.h). One store per map of the programs, with
// the kernel's semantics for what the programs do with it: arrays (per-CPU
// arrays hold one CPU: one thread runs the programs), hash maps, LPM tries
// (longest prefix first) and the ring buffer, whose records go straight to a
// sink (the ring reader's handler) when submitted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sniffer/user_programs.h"

struct sniffer_user_map {  // the C side's opaque store type
  virtual ~sniffer_user_map() = default;
  virtual void* lookup(const void* key) = 0;
  // 0 or a negative errno, as bpf_map_update_elem (flags BPF_ANY, BPF_NOEXIST, BPF_EXIST).
  virtual long update(const void* key, const void* value, std::uint64_t flags) = 0;

  // An array's values (UserArrayMap; values nullptr for any other store),
  // which the programs' lookup helper indexes inline (the engine hands them
  // to the map's definition): the counters, several a packet, without a call.
  sniffer_user_array array{};
  // The array's value at index *key (a __u32), nullptr past the end.
  void* array_element(const void* key) const {
    std::uint32_t index;
    std::memcpy(&index, key, sizeof index);
    return index < array.entries ? array.values + std::size_t{index} * array.stride : nullptr;
  }
};

namespace sniffer {

class UserArrayMap : public sniffer_user_map {
 public:
  UserArrayMap(std::uint32_t value_size, std::uint32_t max_entries);
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;
  std::uint32_t size() const { return array.entries; }
  const void* at(std::uint32_t index) const { return array.values + std::size_t{index} * array.stride; }

 private:
  std::uint32_t value_size_;
  std::vector<std::uint8_t> bytes_;  // never reallocated: array.values points into it
};

// An open-addressing table (linear probing, at most half full) of fixed-size
// keys: a key is compared and hashed as the 8-byte words it is padded to with
// zeros, with the hash kept beside each entry's pointer, so that a probe of
// another key rarely reads that key.
class UserHashMap : public sniffer_user_map {
 public:
  static constexpr std::uint32_t kMaxKeyBytes = 64;  // the programs' largest: sniffer_flow_key, 40
  // Throws std::invalid_argument for a key of 0 or more than kMaxKeyBytes bytes.
  UserHashMap(std::uint32_t key_size, std::uint32_t value_size, std::uint32_t max_entries);
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;
  // Copies out `key`'s value and removes it: 0, or -ENOENT.
  long take(const void* key, void* value);
  // Calls visit(key, value) for every entry; it must not add or remove any.
  void for_each(const std::function<void(const void* key, const void* value)>& visit) const;
  std::uint32_t size() const { return count_; }

 protected:
  std::uint32_t key_size_;

 private:
  using Key = std::array<std::uint64_t, kMaxKeyBytes / 8>;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint64_t* entry = nullptr;  // nullptr: free
  };
  // The key's words and hash; then the slot holding it, or the free slot where
  // the probe ended. N: the key size, known at compile time (0: key_size_).
  template <std::uint32_t N>
  std::size_t locate(const void* key, Key& words, std::uint64_t& hash) const;
  std::size_t locate(const void* key, Key& words, std::uint64_t& hash) const;  // by key_size_
  template <std::uint32_t N>
  std::size_t probe(const Key& words, std::uint64_t hash) const;
  void erase(std::size_t slot);
  void grow();
  std::uint64_t* allocate();

  std::uint32_t value_size_;
  std::uint32_t value_words_;  // the value rounded up to 8 bytes: the key's words follow it
  std::uint32_t key_words_;
  std::uint32_t max_entries_;
  std::uint32_t count_ = 0;
  std::vector<Slot> slots_;  // a power of two
  // Entries never move (the programs keep pointers into values): allocated
  // in chunks, a removed one reused.
  std::vector<std::unique_ptr<std::uint64_t[]>> chunks_;
  std::vector<std::uint64_t*> free_;
};

// Keys are {__u32 prefixlen; __u8 addr[]}; an entry matches an address when
// its prefix does; lookup finds the longest.
class UserLpmTrie : public UserHashMap {
 public:
  static constexpr std::uint32_t kMaxKeyBytes = 4 + 16;  // prefixlen + an IPv6 address
  using UserHashMap::UserHashMap;
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;

 private:
  // The prefix lengths of the entries added (0-128): lookup probes those only.
  std::array<std::uint64_t, 3> lengths_{};
};

class UserRingBuffer : public sniffer_user_map {
 public:
  using Sink = std::function<void(const void* data, std::size_t size)>;
  explicit UserRingBuffer(std::uint32_t capacity);
  ~UserRingBuffer() override;
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  void* lookup(const void*) override { return nullptr; }
  long update(const void*, const void*, std::uint64_t) override { return -22; }  // -EINVAL, as the kernel

  void* reserve(std::uint64_t size);
  // The user engine's record area: where observe() builds each packet record
  // (sniffer_user_record), reserved there by reserve_at and handed on from
  // there by submit(). `at`: max_size bytes of the reader's, where it decodes
  // records in place (RingReader::record_area); nullptr: the ring's own. One
  // ring's area at a time (one engine at a time).
  void* record_area(std::uint64_t max_size, void* at = nullptr);
  // Reserves size bytes at the record area (at: its address), or nullptr when
  // the ring is full, as reserve(); submit() hands it on the same way.
  void* reserve_at(void* at, std::uint64_t size);
  // Hands a reserved record to its ring's sink (bpf_ringbuf_submit gets only the record).
  static void submit(void* data);
  long output(const void* data, std::uint64_t size);
  // BPF_RB_AVAIL_DATA: the reserved records not yet submitted (the reader
  // takes each record as it is submitted, as a replay drains after each packet).
  std::uint64_t queued() const { return queued_; }

 private:
  struct Reservation;
  std::uint32_t capacity_;
  std::uint64_t queued_ = 0;
  Sink sink_;
  std::vector<std::unique_ptr<Reservation>> free_;
  std::unique_ptr<std::uint64_t[]> own_area_;
  void* area_ = nullptr;
  std::uint64_t area_size_ = 0;  // the reservation there
  static inline UserRingBuffer* area_ring_ = nullptr;  // the ring whose area submit() knows
};

}  // namespace sniffer
