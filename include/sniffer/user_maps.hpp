// The user engine's maps: what the programs' map helpers reach in userspace
// (bpf/userspace/bpf/bpf_helpers.h). One store per map of the programs, with
// the kernel's semantics for what the programs do with it: arrays (per-CPU
// arrays hold one CPU: one thread runs the programs), hash maps, LPM tries
// (longest prefix first) and the ring buffer, whose records go straight to a
// sink (the ring reader's handler) when submitted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sniffer/user_programs.h"

struct sniffer_user_map {  // the C side's opaque store type
  virtual ~sniffer_user_map() = default;
  virtual void* lookup(const void* key) = 0;
  // 0 or a negative errno, as bpf_map_update_elem (flags BPF_ANY, BPF_NOEXIST, BPF_EXIST).
  virtual long update(const void* key, const void* value, std::uint64_t flags) = 0;
};

namespace sniffer {

class UserArrayMap : public sniffer_user_map {
 public:
  UserArrayMap(std::uint32_t value_size, std::uint32_t max_entries);
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;
  std::uint32_t size() const { return max_entries_; }
  const void* at(std::uint32_t index) const { return bytes_.data() + std::size_t{index} * stride_; }

 private:
  std::uint32_t value_size_;
  std::uint32_t stride_;  // value_size_ rounded up to 8, as the kernel lays array values out
  std::uint32_t max_entries_;
  std::vector<std::uint8_t> bytes_;
};

class UserHashMap : public sniffer_user_map {
 public:
  UserHashMap(std::uint32_t key_size, std::uint32_t value_size, std::uint32_t max_entries);
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;
  // Copies out `key`'s value and removes it: 0, or -ENOENT.
  long take(const void* key, void* value);
  // Calls visit(key, value) for every entry; it must not add or remove any.
  void for_each(const std::function<void(const void* key, const void* value)>& visit) const;

 protected:
  std::uint32_t key_size_;

 private:
  std::uint32_t value_size_;
  std::uint32_t value_words_;  // the value rounded up to 8 bytes: the key follows it
  std::uint32_t max_entries_;
  // One allocation per entry, the value (8-byte aligned; it never moves: the
  // programs keep pointers into it) then the key, which the index's view
  // points into: a lookup touches the entry once.
  std::unordered_map<std::string_view, std::unique_ptr<std::uint64_t[]>> entries_;
};

// Keys are {__u32 prefixlen; __u8 addr[]}; an entry matches an address when
// its prefix does; lookup finds the longest.
class UserLpmTrie : public UserHashMap {
 public:
  using UserHashMap::UserHashMap;
  void* lookup(const void* key) override;
  long update(const void* key, const void* value, std::uint64_t flags) override;
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
};

}  // namespace sniffer
