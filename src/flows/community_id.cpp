#include "sniffer/community_id.hpp"

#include <cstring>
#include <memory>

#define OPENSSL_SUPPRESS_DEPRECATED  // SHA1_Init and co.: deprecated in 3.0, not removed
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/sha.h>

#include "sniffer/error.hpp"
#include "sha1_pair.hpp"

namespace sniffer {

namespace {

constexpr std::uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmpV6 = 58, kSctp = 132;

// The type an ICMP message answers or is answered by: such a pair is one
// two-way flow (the spec takes Zeek's table). -1: a one-way message.
int icmp_counterpart(std::uint8_t type) {
  switch (type) {
    case 8: return 0;    // echo request -> echo reply
    case 0: return 8;
    case 13: return 14;  // timestamp
    case 14: return 13;
    case 15: return 16;  // information
    case 16: return 15;
    case 10: return 9;   // router solicitation -> advertisement
    case 9: return 10;
    case 17: return 18;  // address mask
    case 18: return 17;
    default: return -1;
  }
}

int icmpv6_counterpart(std::uint8_t type) {
  switch (type) {
    case 128: return 129;  // echo request -> echo reply
    case 129: return 128;
    case 130: return 131;  // multicast listener query -> report
    case 131: return 130;
    case 133: return 134;  // router solicitation -> advertisement
    case 134: return 133;
    case 135: return 136;  // neighbor solicitation -> advertisement
    case 136: return 135;
    case 139: return 140;  // node information query -> reply ("who are you")
    case 140: return 139;
    case 144: return 145;  // home agent address discovery request -> reply
    case 145: return 144;
    default: return -1;
  }
}

#if OPENSSL_VERSION_MAJOR < 4 && !defined(OPENSSL_NO_DEPRECATED_3_0)
// SHA-1 through libcrypto's low-level calls: the same block code as EVP (the
// CPU's SHA instructions here), without EVP's provider dispatch and the
// context it frees and allocates again on every init: 130 ns a hash against
// 240 ns with a reused EVP context (one 40-byte input, this machine).
void sha1(const std::uint8_t* data, std::size_t len, unsigned char (&out)[20]) {
  SHA_CTX ctx;
  if (SHA1_Init(&ctx) != 1 || SHA1_Update(&ctx, data, len) != 1 || SHA1_Final(out, &ctx) != 1) {
    throw Error("Community ID: OpenSSL's SHA-1 failed");
  }
}
#else
struct DigestContextFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// SHA-1, fetched once; one reusable context per thread.
void sha1(const std::uint8_t* data, std::size_t len, unsigned char (&out)[20]) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, DigestContextFree> ctx(EVP_MD_CTX_new());
  unsigned int out_len = 0;
  if (!md || !ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data, len) != 1 || EVP_DigestFinal_ex(ctx.get(), out, &out_len) != 1 ||
      out_len != sizeof out) {
    throw Error("Community ID: OpenSSL's SHA-1 is not available");
  }
}
#endif

// Standard base64 (RFC 4648, padded) of a 20-byte digest: 28 characters, the
// last one '=', as EVP_EncodeBlock writes them.
void base64_digest(const unsigned char (&in)[20], char* out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 18; i += 3) {  // six whole groups of three bytes
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    *out++ = kAlphabet[v >> 18];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
    *out++ = kAlphabet[v & 63];
  }
  const std::uint32_t v = (std::uint32_t{in[18]} << 16) | (std::uint32_t{in[19]} << 8);  // two bytes left
  *out++ = kAlphabet[v >> 18];
  *out++ = kAlphabet[(v >> 12) & 63];
  *out++ = kAlphabet[(v >> 6) & 63];
  *out = '=';
}

// memcmp's sign for the tuple's two addresses, both 16 bytes with zeros past
// an IPv4 address's four (so the same sign as memcmp of addr_len bytes):
// two big-endian 64-bit compares inline, not a library call a flow.
int compare_addresses(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b) {
  std::uint64_t a_hi, a_lo, b_hi, b_lo;
  std::memcpy(&a_hi, a.data(), 8);
  std::memcpy(&a_lo, a.data() + 8, 8);
  std::memcpy(&b_hi, b.data(), 8);
  std::memcpy(&b_lo, b.data() + 8, 8);
  a_hi = __builtin_bswap64(a_hi), a_lo = __builtin_bswap64(a_lo);
  b_hi = __builtin_bswap64(b_hi), b_lo = __builtin_bswap64(b_lo);
  if (a_hi != b_hi) return a_hi < b_hi ? -1 : 1;
  return a_lo < b_lo ? -1 : a_lo > b_lo ? 1 : 0;
}

}  // namespace

CommunityIdTuple community_id_tuple(std::uint8_t ip_version, const std::uint8_t* src, const std::uint8_t* dst,
                                    std::uint8_t proto, std::uint16_t sport, std::uint16_t dport, bool no_l4_header) {
  CommunityIdTuple t;
  t.addr_len = ip_version == 4 ? 4 : 16;
  t.proto = proto;
  if (t.addr_len == 4) {  // constant sizes: inline copies, not a library call each
    std::memcpy(t.src.data(), src, 4);
    std::memcpy(t.dst.data(), dst, 4);
  } else {
    std::memcpy(t.src.data(), src, 16);
    std::memcpy(t.dst.data(), dst, 16);
  }
  const bool port_proto = proto == kTcp || proto == kUdp || proto == kSctp || proto == kIcmp || proto == kIcmpV6;
  t.has_ports = port_proto && !no_l4_header;
  if (!t.has_ports) {
    if (compare_addresses(t.src, t.dst) > 0) std::swap(t.src, t.dst);
    return t;
  }
  bool one_way = false;
  if (proto == kIcmp || proto == kIcmpV6) {
    // sport, dport: the type and code. A two-way type pairs with its counterpart.
    const int counterpart = proto == kIcmp ? icmp_counterpart(static_cast<std::uint8_t>(sport))
                                           : icmpv6_counterpart(static_cast<std::uint8_t>(sport));
    one_way = counterpart < 0;
    if (!one_way) dport = static_cast<std::uint16_t>(counterpart);
  }
  t.sport = sport;
  t.dport = dport;
  const int cmp = compare_addresses(t.src, t.dst);
  if (!one_way && (cmp > 0 || (cmp == 0 && sport > dport))) {
    std::swap(t.src, t.dst);
    std::swap(t.sport, t.dport);
  }
  return t;
}

CommunityIdTuple community_id_tuple(const sniffer_record& r) {
  const bool icmp = r.l4_proto == kIcmp || r.l4_proto == kIcmpV6;
  return community_id_tuple(r.ip_version, r.saddr, r.daddr, r.l4_proto, icmp ? r.icmp_type : r.sport,
                            icmp ? r.icmp_code : r.dport, (r.frag_flags & SNIFFER_FRAG_NOT_FIRST) != 0);
}

CommunityIdTuple community_id_tuple(const sniffer_flow_state& s) {
  const sniffer_flow_key& k = s.key;
  const bool a_first = s.fwd_is_a_to_b != 0;
  const bool icmp = k.l4_proto == kIcmp || k.l4_proto == kIcmpV6;
  const std::uint16_t sport = icmp ? s.icmp_type : a_first ? k.port_a : k.port_b;
  const std::uint16_t dport = icmp ? s.icmp_code : a_first ? k.port_b : k.port_a;
  return community_id_tuple(k.ip_version, a_first ? k.addr_a : k.addr_b, a_first ? k.addr_b : k.addr_a, k.l4_proto,
                            sport, dport, s.no_l4_header != 0);
}

std::string community_id(const CommunityIdTuple& t, std::uint16_t seed) {
  std::string id(kCommunityIdLength, ':');  // one allocation
  write_community_id(id.data(), t, seed);
  return id;
}

namespace {

// The hash input: seed(2) . saddr . daddr . proto(1) . 0(1) [. sport(2) . dport(2)],
// network order; returns its length (at most kInputBytes).
constexpr std::size_t kInputBytes = 2 + 16 + 16 + 2 + 4;
std::size_t hash_input(std::uint8_t (&in)[kInputBytes], const CommunityIdTuple& t, std::uint16_t seed) {
  std::size_t n = 0;
  in[n++] = static_cast<std::uint8_t>(seed >> 8);
  in[n++] = static_cast<std::uint8_t>(seed);
  // Copies of a constant size (a variable one became `rep movsq`, slow to start).
  if (t.addr_len == 4) {
    std::memcpy(in + n, t.src.data(), 4);
    std::memcpy(in + n + 4, t.dst.data(), 4);
  } else {
    std::memcpy(in + n, t.src.data(), 16);
    std::memcpy(in + n + 16, t.dst.data(), 16);
  }
  n += 2 * std::size_t{t.addr_len};
  in[n++] = t.proto;
  in[n++] = 0;
  if (t.has_ports) {
    in[n++] = static_cast<std::uint8_t>(t.sport >> 8);
    in[n++] = static_cast<std::uint8_t>(t.sport);
    in[n++] = static_cast<std::uint8_t>(t.dport >> 8);
    in[n++] = static_cast<std::uint8_t>(t.dport);
  }
  return n;
}
static_assert(kInputBytes <= kSha1PairMaxBytes);

char* id_of_digest(char* out, const unsigned char (&digest)[20]) {
  out[0] = '1';
  out[1] = ':';
  base64_digest(digest, out + 2);
  return out + kCommunityIdLength;
}

}  // namespace

char* write_community_id(char* out, const CommunityIdTuple& t, std::uint16_t seed) {
  std::uint8_t in[kInputBytes];
  const std::size_t n = hash_input(in, t, seed);
  unsigned char digest[20];
  sha1(in, n, digest);
  return id_of_digest(out, digest);
}

void write_community_id_pair(char* out_a, const CommunityIdTuple& a, char* out_b, const CommunityIdTuple& b,
                             std::uint16_t seed) {
  std::uint8_t in_a[kInputBytes], in_b[kInputBytes];
  const std::size_t n_a = hash_input(in_a, a, seed), n_b = hash_input(in_b, b, seed);
  unsigned char digest_a[20], digest_b[20];
  if (!sha1_pair(in_a, n_a, in_b, n_b, digest_a, digest_b)) {
    sha1(in_a, n_a, digest_a);
    sha1(in_b, n_b, digest_b);
  }
  id_of_digest(out_a, digest_a);
  id_of_digest(out_b, digest_b);
}

}  // namespace sniffer
