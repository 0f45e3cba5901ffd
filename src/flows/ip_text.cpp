#include "sniffer/ip_text.hpp"

#include <bit>
#include <charconv>
#include <cstring>

namespace sniffer {

namespace {

// "0" to "255", each in 4 bytes (digits, then their count): an octet's text
// is one 4-byte copy, without dividing.
struct OctetTexts {
  char text[256][4];
  constexpr OctetTexts() : text{} {
    for (int v = 0; v < 256; ++v) {
      const int n = v >= 100 ? 3 : v >= 10 ? 2 : 1;
      for (int i = n - 1, x = v; i >= 0; --i, x /= 10) text[v][i] = static_cast<char>('0' + x % 10);
      text[v][3] = static_cast<char>(n);
    }
  }
};
constexpr OctetTexts kOctets;

char* ipv4_to_chars(char* out, const std::uint8_t* a) {
  for (int i = 0; i < 4; ++i) {
    if (i) *out++ = '.';
    const char* t = kOctets.text[a[i]];
    std::memcpy(out, t, 3);  // the room holds 3 digits an octet (kIpTextMax); the count says how many count
    out += t[3];
  }
  return out;
}

// "00" to "ff": a byte's two hex digits, one 2-byte copy.
struct HexPairs {
  char text[256][2];
  constexpr HexPairs() : text{} {
    for (int v = 0; v < 256; ++v) {
      text[v][0] = "0123456789abcdef"[v >> 4];
      text[v][1] = "0123456789abcdef"[v & 15];
    }
  }
};
constexpr HexPairs kHexPairs;

// A group in lower-case hex without leading zeros (as to_chars base 16,
// without its digit loop): the four digits in a register, its leading zeros
// shifted out, four bytes stored (the room holds them: see kIpTextMax).
char* put_hex_group(char* out, std::uint16_t w) {
  if constexpr (std::endian::native != std::endian::little) return std::to_chars(out, out + 4, w, 16).ptr;
  const int digits = w >= 0x1000 ? 4 : w >= 0x100 ? 3 : w >= 0x10 ? 2 : 1;
  std::uint16_t high, low;
  std::memcpy(&high, kHexPairs.text[w >> 8], 2);
  std::memcpy(&low, kHexPairs.text[w & 0xff], 2);
  std::uint32_t text = std::uint32_t{high} | std::uint32_t{low} << 16;  // the first digit in the lowest byte
  text >>= 8 * (4 - digits);
  std::memcpy(out, &text, 4);
  return out + digits;
}

// The longest run of zero groups (at least two; the first of equal runs), as
// inet_ntop picks it, for each set of zero groups (bit i: group i is zero):
// looked up, not searched, per address. len 0: none.
struct ZeroRun {
  std::int8_t base = -1, len = 0;
};
struct ZeroRuns {
  ZeroRun run[256];
  constexpr ZeroRuns() : run{} {
    for (int mask = 0; mask < 256; ++mask) {
      ZeroRun best;
      for (int i = 0; i < 8;) {
        if (!(mask >> i & 1)) {
          ++i;
          continue;
        }
        int end = i;
        while (end < 8 && (mask >> end & 1)) ++end;
        if (end - i > best.len) best = {static_cast<std::int8_t>(i), static_cast<std::int8_t>(end - i)};
        i = end;
      }
      run[mask] = best.len >= 2 ? best : ZeroRun{};
    }
  }
};
constexpr ZeroRuns kZeroRuns;

// Groups [from, to) joined by ':'.
char* put_groups(char* out, const std::uint16_t (&words)[8], int from, int to) {
  for (int i = from; i < to; ++i) {
    if (i > from) *out++ = ':';
    out = put_hex_group(out, words[i]);
  }
  return out;
}

char* ipv6_to_chars(char* out, const std::uint8_t* a) {
  std::uint16_t words[8];
  unsigned zero_mask = 0;
  for (int i = 0; i < 8; ++i) {
    words[i] = static_cast<std::uint16_t>(a[2 * i] << 8 | a[2 * i + 1]);
    zero_mask |= (words[i] == 0 ? 1u : 0u) << i;
  }
  const ZeroRun zeros = kZeroRuns.run[zero_mask];
  if (zeros.len == 0) return put_groups(out, words, 0, 8);
  // IPv4-compatible ::a.b.c.d and IPv4-mapped ::ffff:a.b.c.d end in a dotted quad.
  if (zeros.base == 0 && (zeros.len == 6 || (zeros.len == 5 && words[5] == 0xffff))) {
    std::memcpy(out, "::ffff:", 7);
    out += zeros.len == 6 ? 2 : 7;
    return ipv4_to_chars(out, a + 12);
  }
  out = put_groups(out, words, 0, zeros.base);
  *out++ = ':';
  *out++ = ':';
  return put_groups(out, words, zeros.base + zeros.len, 8);
}

}  // namespace

char* ip_to_chars(char* out, const std::uint8_t* addr, std::size_t len) {
  if (len == 4) return ipv4_to_chars(out, addr);
  if (len == 16) return ipv6_to_chars(out, addr);
  return out;
}

}  // namespace sniffer
