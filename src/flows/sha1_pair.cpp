#include "sha1_pair.hpp"

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define SNIFFER_SHA1_NI 1
#endif

namespace sniffer {

namespace {

// One padded SHA-1 block of a message of n <= kSha1PairMaxBytes bytes: the
// message, 0x80, zeros, and its length in bits (big-endian) in the last 8.
void pad_block(const std::uint8_t* in, std::size_t n, std::uint8_t (&block)[64]) {
  std::memset(block, 0, sizeof block);
  if (n > 0) std::memcpy(block, in, n);  // in may be null for an empty message
  block[n] = 0x80;
  const std::uint64_t bits = std::uint64_t{n} * 8;
  for (int i = 0; i < 8; ++i) block[63 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
}

#ifdef SNIFFER_SHA1_NI
#define SHA1_NI_TARGET __attribute__((target("sha,ssse3,sse4.1")))

// The state of one block's hash on the SHA instructions: ABCD (A in the top
// lane), E (in the top lane), the four message words' vectors.
struct Lane {
  __m128i abcd, e0, e1, m[4];
};

// Intel's SHA extensions sequence (its white paper's sha1 example): rounds
// 4s..4s+3 of step s >= 3, on message vectors mi (used), mj (finished by
// msg2), mk (xored), ml (msg1); ei takes the rounds' E, ej saves ABCD. The
// schedule updates that the last steps do not need are dead code.
#define SHA1_STEP(L, i, j, k, l, ei, ej, f)                      \
  do {                                                            \
    (L).ei = _mm_sha1nexte_epu32((L).ei, (L).m[i]);              \
    (L).ej = (L).abcd;                                            \
    (L).m[j] = _mm_sha1msg2_epu32((L).m[j], (L).m[i]);           \
    (L).abcd = _mm_sha1rnds4_epu32((L).abcd, (L).ei, f);         \
    (L).m[l] = _mm_sha1msg1_epu32((L).m[l], (L).m[i]);           \
    (L).m[k] = _mm_xor_si128((L).m[k], (L).m[i]);                \
  } while (0)

// Steps s = 3..19, both lanes in turn: the two chains are independent, so
// their rounds overlap in the core. Message vector of step s: m[s % 4].
#define SHA1_STEP2(s, ei, ej)                                                                  \
  do {                                                                                         \
    SHA1_STEP(a, (s) % 4, ((s) + 1) % 4, ((s) + 2) % 4, ((s) + 3) % 4, ei, ej, (s) / 5);      \
    SHA1_STEP(b, (s) % 4, ((s) + 1) % 4, ((s) + 2) % 4, ((s) + 3) % 4, ei, ej, (s) / 5);      \
  } while (0)

SHA1_NI_TARGET inline void start_lane(Lane& L, const std::uint8_t (&block)[64], __m128i abcd0, __m128i e0) {
  const __m128i reverse = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);  // big-endian words, A high
  for (int i = 0; i < 4; ++i) {
    L.m[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * i)), reverse);
  }
  L.abcd = abcd0;
  L.e0 = _mm_add_epi32(e0, L.m[0]);  // rounds 0-3
  L.e1 = L.abcd;
  L.abcd = _mm_sha1rnds4_epu32(L.abcd, L.e0, 0);
}

SHA1_NI_TARGET inline void early_steps(Lane& L) {
  L.e1 = _mm_sha1nexte_epu32(L.e1, L.m[1]);  // rounds 4-7
  L.e0 = L.abcd;
  L.abcd = _mm_sha1rnds4_epu32(L.abcd, L.e1, 0);
  L.m[0] = _mm_sha1msg1_epu32(L.m[0], L.m[1]);
  L.e0 = _mm_sha1nexte_epu32(L.e0, L.m[2]);  // rounds 8-11
  L.e1 = L.abcd;
  L.abcd = _mm_sha1rnds4_epu32(L.abcd, L.e0, 0);
  L.m[1] = _mm_sha1msg1_epu32(L.m[1], L.m[2]);
  L.m[0] = _mm_xor_si128(L.m[0], L.m[2]);
}

SHA1_NI_TARGET inline void finish_lane(Lane& L, __m128i abcd0, __m128i e_save, std::uint8_t (&digest)[20]) {
  L.e0 = _mm_sha1nexte_epu32(L.e0, e_save);
  L.abcd = _mm_add_epi32(L.abcd, abcd0);
  // ABCD (A high) and E's top lane as 20 big-endian bytes.
  const __m128i bytes = _mm_shuffle_epi8(L.abcd, _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(digest), bytes);
  const auto e = static_cast<std::uint32_t>(_mm_extract_epi32(L.e0, 3));
  for (int i = 0; i < 4; ++i) digest[16 + i] = static_cast<std::uint8_t>(e >> (24 - 8 * i));
}

SHA1_NI_TARGET void sha1_pair_ni(const std::uint8_t (&block_a)[64], const std::uint8_t (&block_b)[64],
                                 std::uint8_t (&digest_a)[20], std::uint8_t (&digest_b)[20]) {
  const __m128i abcd0 = _mm_set_epi32(0x67452301, static_cast<int>(0xEFCDAB89), static_cast<int>(0x98BADCFE),
                                      0x10325476);
  const __m128i e_save = _mm_set_epi32(static_cast<int>(0xC3D2E1F0), 0, 0, 0);
  Lane a, b;
  start_lane(a, block_a, abcd0, e_save);
  start_lane(b, block_b, abcd0, e_save);
  early_steps(a);
  early_steps(b);
  SHA1_STEP2(3, e1, e0);
  SHA1_STEP2(4, e0, e1);
  SHA1_STEP2(5, e1, e0);
  SHA1_STEP2(6, e0, e1);
  SHA1_STEP2(7, e1, e0);
  SHA1_STEP2(8, e0, e1);
  SHA1_STEP2(9, e1, e0);
  SHA1_STEP2(10, e0, e1);
  SHA1_STEP2(11, e1, e0);
  SHA1_STEP2(12, e0, e1);
  SHA1_STEP2(13, e1, e0);
  SHA1_STEP2(14, e0, e1);
  SHA1_STEP2(15, e1, e0);
  SHA1_STEP2(16, e0, e1);
  SHA1_STEP2(17, e1, e0);
  SHA1_STEP2(18, e0, e1);
  SHA1_STEP2(19, e1, e0);
  finish_lane(a, abcd0, e_save, digest_a);
  finish_lane(b, abcd0, e_save, digest_b);
}

// CPUID, not __builtin_cpu_supports: clang 14 (the fuzzing build) knows no
// "sha" there. Leaf 7 EBX bit 29: SHA; leaf 1 ECX bits 9 and 19: SSSE3, SSE4.1.
bool cpu_has_sha_ni() {
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19))) return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 && (b & (1u << 29)) != 0;
  }();
  return has;
}
#endif

}  // namespace

bool sha1_pair(const std::uint8_t* a, std::size_t a_len, const std::uint8_t* b, std::size_t b_len,
               std::uint8_t (&digest_a)[20], std::uint8_t (&digest_b)[20]) {
#ifdef SNIFFER_SHA1_NI
  if (a_len > kSha1PairMaxBytes || b_len > kSha1PairMaxBytes || !cpu_has_sha_ni()) return false;
  std::uint8_t block_a[64], block_b[64];
  pad_block(a, a_len, block_a);
  pad_block(b, b_len, block_b);
  sha1_pair_ni(block_a, block_b, digest_a, digest_b);
  return true;
#else
  (void)a, (void)a_len, (void)b, (void)b_len, (void)digest_a, (void)digest_b, (void)pad_block;
  return false;
#endif
}

bool sha1_pair_available() {
#ifdef SNIFFER_SHA1_NI
  return cpu_has_sha_ni();
#else
  return false;
#endif
}

}  // namespace sniffer
