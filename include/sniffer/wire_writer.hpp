// Unchecked proto3 writes for EventWireBatch's per-event encoder: tags are
// compile-time constants, a tag and a small value go out in one 8-byte
// store, short byte strings in fixed-size overlapping copies. Every write
// may store up to kSlack bytes past what it keeps, so the caller reserves
// the event's bound plus kSlack; the bytes kept are exactly libprotobuf's
// (tests/unit/test_event_wire.cpp compares them).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sniffer::wire {

static_assert(std::endian::native == std::endian::little, "the stores below write little-endian words");

inline constexpr std::size_t kSlack = 16;
enum WireType : std::uint32_t { kVarint = 0, kLengthDelimited = 2 };

inline void store64(std::uint8_t* at, std::uint64_t v) { std::memcpy(at, &v, 8); }

// A tag's bytes (fields below 2,048: at most two bytes) and their count.
constexpr std::uint32_t tag_of(std::uint32_t field, WireType type) { return field << 3 | type; }
constexpr unsigned tag_size(std::uint32_t tag) { return tag < 0x80 ? 1 : 2; }
constexpr std::uint64_t tag_bytes(std::uint32_t tag) { return tag < 0x80 ? tag : (tag & 0x7f) | 0x80 | (tag >> 7) << 8; }

// The varint of v (not 0) in the low bytes of a word, and its byte count:
// 7 bits a byte, the continuation bit on every byte but the last. Up to 35
// bits (five bytes: every uint32).
inline unsigned varint_size32(std::uint32_t v) { return (static_cast<unsigned>(std::bit_width(v | 1u)) + 6) / 7; }
inline std::uint64_t spread7(std::uint64_t v) {
  return (v & 0x7f) | (v << 1 & 0x7f00) | (v << 2 & 0x7f0000) | (v << 3 & 0x7f000000) | (v << 4 & 0x7f00000000);
}
inline std::uint64_t varint_word32(std::uint32_t v, unsigned size) {
  const std::uint64_t continuation = 0x8080808080ull & ((std::uint64_t{1} << (8 * (size - 1))) - 1);
  return spread7(v) | continuation;
}

// A uint32/enum/bool field: absent when 0; the tag and a value below 2^21
// (up to three varint bytes) in one store, a larger one byte by byte.
template <std::uint32_t Field>
inline std::uint8_t* u32(std::uint8_t* at, std::uint32_t v) {
  constexpr std::uint32_t kTag = tag_of(Field, kVarint);
  constexpr unsigned kTagSize = tag_size(kTag);
  constexpr std::uint64_t kTagBytes = tag_bytes(kTag);
  if (v == 0) return at;
  if (v < 0x80) [[likely]] {
    store64(at, kTagBytes | std::uint64_t{v} << (8 * kTagSize));
    return at + kTagSize + 1;
  }
  // Adding v's bits from 7 up to v moves them up one bit: the second group
  // of 7 starts at bit 8 (the continuation bit, 0 so far, in the tag's word).
  const std::uint64_t two = v + (v & 0x3f80);
  if (v < 0x4000) {
    store64(at, (kTagBytes | std::uint64_t{0x80} << (8 * kTagSize)) | two << (8 * kTagSize));
    return at + kTagSize + 2;
  }
  if (v < 0x200000) {
    const std::uint64_t three = two + (v & 0x1fc000) * 3;  // the third group: up two bits
    store64(at, (kTagBytes | std::uint64_t{0x8080} << (8 * kTagSize)) | three << (8 * kTagSize));
    return at + kTagSize + 3;
  }
  // Four or five bytes (a sequence number, an identifier): no loop.
  const unsigned size = varint_size32(v);
  store64(at, kTagBytes | varint_word32(v, size) << (8 * kTagSize));
  return at + kTagSize + size;
}

// Copies n bytes (n <= 64 without a call) from a source holding exactly n.
inline void copy_short(std::uint8_t* at, const void* from, std::size_t n) {
  const auto* src = static_cast<const std::uint8_t*>(from);
  if (n >= 16 && n <= 32) {
    std::memcpy(at, src, 16);
    std::memcpy(at + n - 16, src + n - 16, 16);
  } else if (n > 32 && n <= 64) {
    std::memcpy(at, src, 32);
    std::memcpy(at + n - 32, src + n - 32, 32);
  } else if (n >= 8 && n < 16) {
    std::memcpy(at, src, 8);
    std::memcpy(at + n - 8, src + n - 8, 8);
  } else {
    std::memcpy(at, src, n);
  }
}

// A string or bytes field: absent when empty.
template <std::uint32_t Field>
inline std::uint8_t* bytes(std::uint8_t* at, const void* data, std::size_t size) {
  constexpr std::uint32_t kTag = tag_of(Field, kLengthDelimited);
  constexpr unsigned kTagSize = tag_size(kTag);
  if (size == 0) return at;
  const auto n = static_cast<std::uint32_t>(size);
  if (n < 0x80) [[likely]] {
    store64(at, tag_bytes(kTag) | std::uint64_t{n} << (8 * kTagSize));
    at += kTagSize + 1;
  } else {
    const unsigned length_size = varint_size32(n);
    store64(at, tag_bytes(kTag) | varint_word32(n, length_size) << (8 * kTagSize));
    at += kTagSize + length_size;
  }
  copy_short(at, data, size);
  return at + size;
}

// A uint64 varint field whose values share their high bits from one call
// to the next (a clock's nanoseconds): the encoding of the last value whose
// bits from 28 up were the same is kept, and only its first four varint
// bytes (bits 0-27) are written again.
template <std::uint32_t Field>
class RepeatingU64 {
 public:
  std::uint8_t* put(std::uint8_t* at, std::uint64_t v) {
    if ((v >> 28) != high_) [[unlikely]] {
      if (!prepare(v)) return put_slow(at, v);  // below 2^28 (or 0: absent)
    }
    std::memcpy(at, bytes_, sizeof bytes_);
    const std::uint32_t low = static_cast<std::uint32_t>(spread7(v & 0xfffffff)) | 0x80808080u;
    std::memcpy(at + kTagSize, &low, 4);
    return at + size_;
  }

 private:
  static constexpr std::uint32_t kTag = tag_of(Field, kVarint);
  static constexpr unsigned kTagSize = tag_size(kTag);

  // The tag and the varint of v.
  static unsigned encode(std::uint8_t* at, std::uint64_t v) {
    store64(at, tag_bytes(kTag));
    unsigned n = kTagSize;
    for (; v >= 0x80; v >>= 7) at[n++] = static_cast<std::uint8_t>(v | 0x80);
    at[n++] = static_cast<std::uint8_t>(v);
    return n;
  }
  // Keeps v's encoding when v has bits from 28 up (its varint then has
  // five bytes or more, the first four all continued); else false.
  bool prepare(std::uint64_t v) {
    if ((v >> 28) == 0) return false;
    size_ = encode(bytes_, v);
    high_ = v >> 28;
    return true;
  }
  static std::uint8_t* put_slow(std::uint8_t* at, std::uint64_t v) {
    if (v == 0) return at;
    return at + encode(at, v);
  }

  std::uint64_t high_ = ~std::uint64_t{0};  // no value's: nothing kept yet
  unsigned size_ = 0;
  std::uint8_t bytes_[16] = {};
};

}  // namespace sniffer::wire
