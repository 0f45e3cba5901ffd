// SHA-1 of two short messages at once on the CPU's SHA instructions (x86's
// SHA extensions). One message's 80 rounds are one serial chain of sha1rnds4
// (~145 cycles here, libcrypto's too); two independent chains interleaved take
// about the time of one. For the Community ID (community_id.cpp): its inputs
// are at most 40 bytes, one block.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sniffer {

// The longest message that fits one padded block.
inline constexpr std::size_t kSha1PairMaxBytes = 55;

// The SHA-1 digests of a and b (each <= kSha1PairMaxBytes). False, nothing
// written: no SHA instructions on this CPU (or not x86-64), or a longer message;
// the caller hashes them another way.
bool sha1_pair(const std::uint8_t* a, std::size_t a_len, const std::uint8_t* b, std::size_t b_len,
               std::uint8_t (&digest_a)[20], std::uint8_t (&digest_b)[20]);

// Whether sha1_pair hashes here (x86-64 with the SHA extensions).
bool sha1_pair_available();

}  // namespace sniffer
