// Builds Ethernet frames for BPF_PROG_TEST_RUN fixtures: Ethernet, VLAN
// tags, IPv4 (options, fragments) or IPv6 (extension headers), then TCP,
// UDP or ICMP with a payload. Checksums are not computed: the programs
// under test do not verify them.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sniffer::test {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
inline void set16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

inline std::array<std::uint8_t, 4> ip4(const char* text) {
  std::array<std::uint8_t, 4> a{};
  inet_pton(AF_INET, text, a.data());
  return a;
}
inline std::array<std::uint8_t, 16> ip6(const char* text) {
  std::array<std::uint8_t, 16> a{};
  inet_pton(AF_INET6, text, a.data());
  return a;
}

struct L4 {
  enum Kind { Tcp, Udp, Icmp, Icmp6, Raw } kind = Udp;
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t tcp_flags = 0x02;
  std::uint16_t window = 0;
  std::uint8_t tcp_doff = 5;  // 32-bit words; > 5 adds NOP options
  std::uint8_t icmp_type = 8, icmp_code = 0;
  std::string payload;
};

inline Bytes l4_bytes(const L4& l4) {
  Bytes b;
  switch (l4.kind) {
    case L4::Tcp:
      put16(b, l4.sport);
      put16(b, l4.dport);
      put32(b, 1000);  // seq
      put32(b, 0);     // ack
      b.push_back(static_cast<std::uint8_t>(l4.tcp_doff << 4));
      b.push_back(l4.tcp_flags);
      put16(b, l4.window);
      put16(b, 0);  // checksum
      put16(b, 0);  // urgent
      for (int i = 5; i < l4.tcp_doff; ++i) put32(b, 0x01010101);  // NOP options
      break;
    case L4::Udp:
      put16(b, l4.sport);
      put16(b, l4.dport);
      put16(b, static_cast<std::uint16_t>(8 + l4.payload.size()));
      put16(b, 0);
      break;
    case L4::Icmp:
    case L4::Icmp6:
      b.push_back(l4.icmp_type);
      b.push_back(l4.icmp_code);
      put16(b, 0);       // checksum
      put32(b, 0x00010001);  // id, sequence
      break;
    case L4::Raw:
      break;
  }
  b.insert(b.end(), l4.payload.begin(), l4.payload.end());
  return b;
}

inline std::uint8_t ip_proto(const L4& l4) {
  switch (l4.kind) {
    case L4::Tcp: return 6;
    case L4::Udp: return 17;
    case L4::Icmp: return 1;
    case L4::Icmp6: return 58;
    default: return 253;  // experimental
  }
}

using VlanTags = std::vector<std::pair<std::uint16_t, std::uint16_t>>;  // (TPID, VID), outer first

// Ethernet header, then each tag's TPID and TCI, then `ethertype`.
inline Bytes ethernet(const VlanTags& vlans, std::uint16_t ethertype) {
  Bytes b = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  for (auto [tpid, vid] : vlans) {
    put16(b, tpid);
    put16(b, vid);
  }
  put16(b, ethertype);
  return b;
}

struct Ipv4Options {
  std::uint8_t ttl = 64;
  std::uint8_t ihl = 5;            // > 5 adds NOP options
  std::uint16_t frag_field = 0x4000;  // DF, offset 0
  std::uint16_t id = 0x1234;
};

inline Bytes ipv4_frame(const char* src, const char* dst, const L4& l4, Ipv4Options o = {},
                        VlanTags vlans = {}) {
  Bytes b = ethernet(vlans, 0x0800);
  Bytes payload = l4_bytes(l4);
  b.push_back(static_cast<std::uint8_t>(0x40 | o.ihl));
  b.push_back(0);
  put16(b, static_cast<std::uint16_t>(o.ihl * 4 + payload.size()));
  put16(b, o.id);
  put16(b, o.frag_field);
  b.push_back(o.ttl);
  b.push_back(ip_proto(l4));
  put16(b, 0);
  auto s = ip4(src), d = ip4(dst);
  b.insert(b.end(), s.begin(), s.end());
  b.insert(b.end(), d.begin(), d.end());
  for (int i = 5; i < o.ihl; ++i) put32(b, 0x01010101);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// ext_headers: IPv6 extension header types (0 hop-by-hop, 43 routing,
// 60 destination options: 8 bytes each; 44 fragment with frag_offset_bytes).
inline Bytes ipv6_frame(const char* src, const char* dst, const L4& l4, std::vector<std::uint8_t> ext_headers = {},
                        std::uint16_t frag_offset_bytes = 0, bool more_fragments = false,
                        VlanTags vlans = {}, std::uint8_t hop_limit = 64) {
  Bytes b = ethernet(vlans, 0x86DD);
  Bytes payload = l4_bytes(l4);
  Bytes ext;
  for (std::size_t i = 0; i < ext_headers.size(); ++i) {
    std::uint8_t next = i + 1 < ext_headers.size() ? ext_headers[i + 1] : ip_proto(l4);
    if (ext_headers[i] == 44) {
      ext.push_back(next);
      ext.push_back(0);
      put16(ext, static_cast<std::uint16_t>(frag_offset_bytes | (more_fragments ? 1 : 0)));
      put32(ext, 0xabcdef01);
    } else {
      ext.push_back(next);
      ext.push_back(0);  // length: (0 + 1) * 8 bytes
      for (int k = 0; k < 6; ++k) ext.push_back(k == 0 ? 1 : 0);  // PadN
    }
  }
  put32(b, 0x60000000);
  put16(b, static_cast<std::uint16_t>(ext.size() + payload.size()));
  b.push_back(ext_headers.empty() ? ip_proto(l4) : ext_headers[0]);
  b.push_back(hop_limit);
  auto s = ip6(src), d = ip6(dst);
  b.insert(b.end(), s.begin(), s.end());
  b.insert(b.end(), d.begin(), d.end());
  b.insert(b.end(), ext.begin(), ext.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

}  // namespace sniffer::test
