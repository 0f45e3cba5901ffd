#include "event_wire_vector.hpp"

#include <array>
#include <bit>
#include <cstddef>

#include "sniffer.pb.h"
#include "sniffer/wire_writer.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define SNIFFER_WIRE_VECTOR 1
#endif

namespace sniffer::wire_vector {

#ifdef SNIFFER_WIRE_VECTOR
namespace {

#define SNIFFER_AVX512 __attribute__((target("avx512f,avx512bw,avx512cd,avx512vl,avx512vbmi,avx512vbmi2")))

using E = v1::PacketEvent;

// A uint32/enum field of the record: its number and its bytes there.
struct Field {
  std::uint32_t number;
  std::size_t offset, size;
};

// Four fields' constants, lane i (bytes 8i..8i+7) for the i-th field: where
// its bytes are in a 64-byte window of the record (from `window`: a byte
// index, and the bytes to take), where each varint byte's 7 bits are in the
// value (multishift's bit offsets), which lane bytes are varint bytes (0x7f)
// or the tag's (the tag's bytes), and the tag's size. 256-bit vectors: the
// 512-bit ones were slower here (micro_user BM_EventsEncode, round 16).
struct alignas(32) Group {
  std::array<std::uint8_t, 32> index{}, shift{}, seven{}, tag{};
  std::array<std::uint64_t, 4> tag_size{};
  std::uint32_t take = 0;     // the value bytes the permute keeps
  std::uint32_t not_tag = 0;  // the lane bytes after the tag
};

constexpr Group group_of(const std::array<Field, 4>& fields, std::size_t window) {
  Group g;
  for (std::size_t lane = 0; lane < 4; ++lane) {
    const Field& f = fields[lane];
    const std::uint32_t tag = wire::tag_of(f.number, wire::kVarint);
    const unsigned tag_size = wire::tag_size(tag);
    const std::uint64_t tag_bytes = wire::tag_bytes(tag);
    g.tag_size[lane] = tag_size;
    if (f.offset < window || f.offset + f.size > window + 64 || window + 64 > sizeof(sniffer_record))
      throw "a field outside its group's window";
    for (std::size_t b = 0; b < 8; ++b) {
      const std::size_t at = 8 * lane + b;
      if (b < f.size) {
        g.index[at] = static_cast<std::uint8_t>(f.offset - window + b);
        g.take |= std::uint32_t{1} << at;
      }
      if (b < tag_size) {
        g.tag[at] = static_cast<std::uint8_t>(tag_bytes >> (8 * b));
      } else {
        g.not_tag |= std::uint32_t{1} << at;
        g.shift[at] = static_cast<std::uint8_t>(7 * (b - tag_size));
        g.seven[at] = b - tag_size < 5 ? 0x7f : 0;  // a uint32's varint: five bytes at most
      }
    }
  }
  return g;
}

#define SNIFFER_FIELD(name, member) \
  Field { E::k##name##FieldNumber, offsetof(sniffer_record, member), sizeof(sniffer_record::member) }

// Fields 12 to 21 and 23 to 28 in number order, four a group; the first
// three groups' fields lie in the record's bytes 20..83, the last's in 48..111.
constexpr std::size_t kLowWindow = 20, kHighWindow = 48;
constexpr Group kGroups[4] = {
    group_of({SNIFFER_FIELD(SrcPort, sport), SNIFFER_FIELD(DstPort, dport), SNIFFER_FIELD(L4Protocol, l4_proto),
              SNIFFER_FIELD(TcpFlags, tcp_flags)},
             kLowWindow),
    group_of({SNIFFER_FIELD(TcpWindow, tcp_window), SNIFFER_FIELD(Ttl, ttl), SNIFFER_FIELD(WireLength, wire_len),
              SNIFFER_FIELD(L3HeaderLength, l3_hdr_len)},
             kLowWindow),
    group_of({SNIFFER_FIELD(L4HeaderLength, l4_hdr_len), SNIFFER_FIELD(IpTotalLength, ip_total_len),
              SNIFFER_FIELD(Ethertype, ethertype), SNIFFER_FIELD(FragmentFlags, frag_flags)},
             kLowWindow),
    group_of({SNIFFER_FIELD(FragmentOffset, frag_offset), SNIFFER_FIELD(FragmentId, frag_id),
              SNIFFER_FIELD(IcmpType, icmp_type), SNIFFER_FIELD(IcmpCode, icmp_code)},
             kHighWindow)};
#undef SNIFFER_FIELD
static_assert(E::kSrcPortFieldNumber == 12 && E::kTcpFlagsFieldNumber == 15 && E::kTcpWindowFieldNumber == 16 &&
                  E::kL3HeaderLengthFieldNumber == 19 && E::kL4HeaderLengthFieldNumber == 20 &&
                  E::kIpTotalLengthFieldNumber == 21 && E::kVlanIdsFieldNumber == 22 && E::kEthertypeFieldNumber == 23 &&
                  E::kFragmentFlagsFieldNumber == 24 && E::kFragmentOffsetFieldNumber == 25 &&
                  E::kIcmpCodeFieldNumber == 28,
              "the groups are fields 12..21 and 23..28, in number order");
static_assert(sizeof(sniffer_record) == kHighWindow + 64, "the last window ends with the record");
// l4_protocol is written only for IP (record_to_event): the first group's lane 2.
constexpr std::uint32_t kL4ProtocolBytes = 0xffu << 16;
static_assert(offsetof(sniffer_record, l4_proto) - kLowWindow == kGroups[0].index[16] && sizeof(sniffer_record::l4_proto) == 1);

// The varint's size of a nonzero uint32 by its leading zeros as a uint64
// (32..63; the index's low five bits), for the lane's first byte.
constexpr std::array<std::uint8_t, 32> varint_sizes() {
  std::array<std::uint8_t, 32> t{};
  for (unsigned i = 0; i < 32; ++i) t[i] = static_cast<std::uint8_t>((32 - i + 6) / 7);
  return t;
}
alignas(32) constexpr std::array<std::uint8_t, 32> kVarintSizes = varint_sizes();
constexpr __mmask32 kLaneFirstBytes = 0x01010101u;

// Each byte's place in its lane, and each lane's first byte's index (for a
// byte shuffle within 128-bit lanes).
constexpr std::array<std::uint8_t, 32> lane_bytes(bool first) {
  std::array<std::uint8_t, 32> t{};
  for (unsigned i = 0; i < 32; ++i) t[i] = static_cast<std::uint8_t>(first ? i % 16 / 8 * 8 : i % 8);
  return t;
}
alignas(32) constexpr std::array<std::uint8_t, 32> kPlace = lane_bytes(false);
alignas(32) constexpr std::array<std::uint8_t, 32> kLaneFirst = lane_bytes(true);

SNIFFER_AVX512 inline __m256i load(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }
SNIFFER_AVX512 inline __m256i window(const std::uint8_t* record, std::size_t from) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(record + from));
}
// Every byte (the zero-masked forms: GCC 12's unmasked ones warn of their
// undefined source).
constexpr __mmask32 kAll = ~__mmask32{0};

// One group's fields from its window (lo, hi) at `at` (32 bytes stored);
// the end of what is kept.
SNIFFER_AVX512 inline std::uint8_t* encode_group(__m256i lo, __m256i hi, const Group& g, __mmask32 take,
                                                 std::uint8_t* at) {
  const __m256i value = _mm256_maskz_permutex2var_epi8(take, lo, load(g.index.data()), hi);
  const __m256i sizes =
      _mm256_maskz_permutexvar_epi8(kLaneFirstBytes, _mm256_lzcnt_epi64(value), load(kVarintSizes.data()));
  const __m256i length = _mm256_maskz_add_epi64(_mm256_test_epi64_mask(value, value), sizes, load(g.tag_size.data()));
  const __mmask32 keep = _mm256_cmplt_epu8_mask(load(kPlace.data()), _mm256_shuffle_epi8(length, load(kLaneFirst.data())));
  const __mmask32 continued = (keep >> 1) & g.not_tag;  // every kept varint byte but the lane's last
  __m256i bytes = _mm256_maskz_multishift_epi64_epi8(kAll, load(g.shift.data()), value);
  bytes = _mm256_ternarylogic_epi64(bytes, load(g.seven.data()), load(g.tag.data()), 0xea);  // (a & b) | c
  bytes = _mm256_mask_add_epi8(bytes, continued, bytes, _mm256_set1_epi8(static_cast<char>(0x80)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(at), _mm256_maskz_compress_epi8(keep, bytes));
  return at + std::popcount(keep);
}

// CPUID leaf 7: EBX AVX512F (16), CD (28), BW (30), VL (31); ECX VBMI (1), VBMI2 (6).
// XCR0: the OS saves the SSE, AVX and the three AVX-512 states (0xe6).
bool cpu_has_avx512_vbmi2() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xe6) != 0xe6) return false;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  const unsigned ebx = (1u << 16) | (1u << 28) | (1u << 30) | (1u << 31), ecx = (1u << 1) | (1u << 6);
  return (b & ebx) == ebx && (c & ecx) == ecx;
}

}  // namespace

bool available() {
  static const bool has = cpu_has_avx512_vbmi2();
  return has;
}

SNIFFER_AVX512 std::uint8_t* fields_12_to_28(const sniffer_record& r, std::uint8_t* at) {
  const auto* record = reinterpret_cast<const std::uint8_t*>(&r);
  const __m256i low_lo = window(record, kLowWindow), low_hi = window(record, kLowWindow + 32);
  const __m256i high_lo = window(record, kHighWindow), high_hi = window(record, kHighWindow + 32);
  at = encode_group(low_lo, low_hi, kGroups[0], r.ip_version ? kGroups[0].take : kGroups[0].take & ~kL4ProtocolBytes, at);
  at = encode_group(low_lo, low_hi, kGroups[1], kGroups[1].take, at);
  at = encode_group(low_lo, low_hi, kGroups[2], kGroups[2].take, at);
  return encode_group(high_lo, high_hi, kGroups[3], kGroups[3].take, at);
}

#else

bool available() { return false; }
std::uint8_t* fields_12_to_28(const sniffer_record&, std::uint8_t* at) { return at; }

#endif

}  // namespace sniffer::wire_vector
