// Community ID v1 on vectors computed by hand from the spec's definition:
// each vector's preimage is written out byte by byte here, its SHA-1 and
// base64 taken directly, and the result is the known value (the spec's
// baseline/baseline_*.json, made by its reference implementation, or
// tshark 4.0's communityid for the cases the baseline lacks). The function
// under test must give that value from the unordered 5-tuple.
#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "sniffer/community_id.hpp"
#include "sniffer/flow_packet.hpp"
#include "../../src/flows/sha1_pair.hpp"

namespace sniffer {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes addr(const char* text) {
  std::uint8_t buf[16] = {};
  const bool v6 = std::strchr(text, ':') != nullptr;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, text, buf), 1) << text;
  return Bytes(buf, buf + (v6 ? 16 : 4));
}

Bytes be16(std::uint16_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }

// seed . saddr . daddr . proto . 0 [. sport . dport]: the spec's preimage.
Bytes preimage(std::uint16_t seed, const char* saddr, const char* daddr, std::uint8_t proto, bool ports = false,
               std::uint16_t sport = 0, std::uint16_t dport = 0) {
  Bytes b = be16(seed);
  for (const Bytes& part : {addr(saddr), addr(daddr), Bytes{proto, 0}}) b.insert(b.end(), part.begin(), part.end());
  if (ports) {
    for (const Bytes& part : {be16(sport), be16(dport)}) b.insert(b.end(), part.begin(), part.end());
  }
  return b;
}

std::string hash_of(const Bytes& preimage) {
  unsigned char digest[20];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(preimage.data(), preimage.size(), digest, &len, EVP_sha1(), nullptr), 1);
  unsigned char text[29];
  const int n = EVP_EncodeBlock(text, digest, sizeof digest);
  return "1:" + std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
}

// The ID of a packet src:sport -> dst:dport (ICMP: type, code).
std::string id_of(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sport, std::uint16_t dport,
                  std::uint16_t seed = 0, bool not_first_fragment = false) {
  const Bytes s = addr(src), d = addr(dst);
  const std::uint8_t version = s.size() == 4 ? 4 : 6;
  return community_id(community_id_tuple(version, s.data(), d.data(), proto, sport, dport, not_first_fragment), seed);
}

TEST(CommunityId, TcpIpv4BothDirectionsAndSeed) {
  const std::string want = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  EXPECT_EQ(hash_of(preimage(0, "66.35.250.204", "128.232.110.120", 6, true, 80, 34855)), want);
  EXPECT_EQ(id_of("128.232.110.120", "66.35.250.204", 6, 34855, 80), want);
  EXPECT_EQ(id_of("66.35.250.204", "128.232.110.120", 6, 80, 34855), want);
  const std::string seeded = "1:3V71V58M3Ksw/yuFALMcW0LAHvc=";
  EXPECT_EQ(hash_of(preimage(1, "66.35.250.204", "128.232.110.120", 6, true, 80, 34855)), seeded);
  EXPECT_EQ(id_of("128.232.110.120", "66.35.250.204", 6, 34855, 80, 1), seeded);
}

TEST(CommunityId, UdpIpv4) {
  const std::string want = "1:d/FP5EW3wiY1vCndhwleRRKHowQ=";
  EXPECT_EQ(hash_of(preimage(0, "8.8.8.8", "192.168.1.52", 17, true, 53, 54585)), want);
  EXPECT_EQ(id_of("192.168.1.52", "8.8.8.8", 17, 54585, 53), want);
  EXPECT_EQ(id_of("8.8.8.8", "192.168.1.52", 17, 53, 54585), want);
}

TEST(CommunityId, TcpIpv6) {
  const char* client = "2001:470:e5bf:dead:4957:2174:e82c:4887";
  const char* server = "2607:f8b0:400c:c03::1a";
  const std::string want = "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=";
  EXPECT_EQ(hash_of(preimage(0, client, server, 6, true, 63943, 25)), want);
  EXPECT_EQ(id_of(client, server, 6, 63943, 25), want);
  EXPECT_EQ(id_of(server, client, 6, 25, 63943), want);
}

TEST(CommunityId, EqualAddressesOrderByPort) {
  const std::string want = hash_of(preimage(0, "10.0.0.1", "10.0.0.1", 6, true, 80, 40000));
  EXPECT_EQ(id_of("10.0.0.1", "10.0.0.1", 6, 40000, 80), want);
  EXPECT_EQ(id_of("10.0.0.1", "10.0.0.1", 6, 80, 40000), want);
}

TEST(CommunityId, IcmpEchoRequestAndReplyAreOneFlow) {
  // Echo request (type 8) maps to ports (8, 0), its reply (type 0) to (0, 8).
  const std::string want = "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=";
  EXPECT_EQ(hash_of(preimage(0, "192.168.0.1", "192.168.0.89", 1, true, 0, 8)), want);
  EXPECT_EQ(id_of("192.168.0.89", "192.168.0.1", 1, 8, 0), want);  // request
  EXPECT_EQ(id_of("192.168.0.1", "192.168.0.89", 1, 0, 0), want);  // reply
  // The other side pinging (request from .1) is another flow: ports (8, 0).
  const std::string other = hash_of(preimage(0, "192.168.0.1", "192.168.0.89", 1, true, 8, 0));
  EXPECT_NE(other, want);
  EXPECT_EQ(id_of("192.168.0.1", "192.168.0.89", 1, 8, 0), other);
  EXPECT_EQ(id_of("192.168.0.89", "192.168.0.1", 1, 0, 0), other);
  const std::string seeded = "1:03g6IloqVBdcZlPyX8r0hgoE7kA=";
  EXPECT_EQ(hash_of(preimage(1, "192.168.0.1", "192.168.0.89", 1, true, 0, 8)), seeded);
  EXPECT_EQ(id_of("192.168.0.89", "192.168.0.1", 1, 8, 0, 1), seeded);
}

TEST(CommunityId, IcmpOneWayTypeKeepsItsDirection) {
  // Time exceeded (11): type and code as ports, the sender first even when
  // its address is the larger (tshark's value).
  EXPECT_EQ(hash_of(preimage(0, "10.0.0.1", "10.0.0.2", 1, true, 11, 0)), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
  EXPECT_EQ(id_of("10.0.0.1", "10.0.0.2", 1, 11, 0), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
  EXPECT_EQ(hash_of(preimage(0, "10.0.0.2", "10.0.0.1", 1, true, 11, 0)), "1:c5iqfdGYsNWhMJVcYXWPNWbpnKs=");
  EXPECT_EQ(id_of("10.0.0.2", "10.0.0.1", 1, 11, 0), "1:c5iqfdGYsNWhMJVcYXWPNWbpnKs=");
}

TEST(CommunityId, Icmpv6) {
  const char* a = "3ffe:507:0:1:200:86ff:fe05:80da";
  const char* b = "3ffe:501:0:1001::2";
  const std::string echo = "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=";
  EXPECT_EQ(hash_of(preimage(0, b, a, 58, true, 129, 128)), echo);
  EXPECT_EQ(id_of(a, b, 58, 128, 0), echo);  // echo request
  EXPECT_EQ(id_of(b, a, 58, 129, 0), echo);  // echo reply
  EXPECT_EQ(id_of(a, b, 58, 128, 0, 1), "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=");
  // Neighbor solicitation (135) and its advertisement (136) pair up.
  const char* n1 = "fe80::200:86ff:fe05:80da";
  const char* n2 = "fe80::260:97ff:fe07:69ea";
  const std::string ns = "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=";
  EXPECT_EQ(hash_of(preimage(0, n1, n2, 58, true, 135, 136)), ns);
  EXPECT_EQ(id_of(n1, n2, 58, 135, 0), ns);
  EXPECT_EQ(id_of(n2, n1, 58, 136, 0), ns);
  // Destination unreachable (1, code 4): one-way, code as destination port.
  const char* router = "3ffe:501:410:0:2c0:dfff:fe47:33e";
  EXPECT_EQ(hash_of(preimage(0, router, a, 58, true, 1, 4)), "1:hLZd0XGWojozrvxqE0dWB1iM6R0=");
  EXPECT_EQ(id_of(router, a, 58, 1, 4), "1:hLZd0XGWojozrvxqE0dWB1iM6R0=");
}

TEST(CommunityId, SctpHasPorts) {
  const std::string want = "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=";
  EXPECT_EQ(hash_of(preimage(0, "192.168.170.8", "192.168.170.56", 132, true, 7, 7)), want);
  EXPECT_EQ(id_of("192.168.170.56", "192.168.170.8", 132, 7, 7), want);
  EXPECT_EQ(id_of("192.168.170.8", "192.168.170.56", 132, 7, 7, 1), "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=");
}

TEST(CommunityId, ProtocolWithoutPortsHashesNone) {
  // RSVP (46): 12 bytes hashed, no ports even if some were passed.
  const std::string want = "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=";
  EXPECT_EQ(hash_of(preimage(0, "10.1.12.1", "10.1.12.2", 46)), want);
  EXPECT_EQ(id_of("10.1.12.2", "10.1.12.1", 46, 0, 0), want);
  EXPECT_EQ(id_of("10.1.12.1", "10.1.12.2", 46, 7, 9), want);
  EXPECT_EQ(id_of("10.1.12.1", "10.1.12.2", 46, 0, 0, 1), "1:rYir8gphR31noO9iDRQmF/BteEI=");
}

TEST(CommunityId, FragmentAfterTheFirstHashesNoPorts) {
  // Its TCP header is in the first fragment: no ports, as tshark (without
  // reassembly) hashes it.
  const std::string want = "1:H3aJwHWlOnBTHSVZnnD+QYJb9v0=";
  EXPECT_EQ(hash_of(preimage(0, "10.0.0.1", "10.0.0.2", 6)), want);
  EXPECT_EQ(id_of("10.0.0.2", "10.0.0.1", 6, 0, 0, 0, /*not_first_fragment=*/true), want);
  EXPECT_NE(id_of("10.0.0.2", "10.0.0.1", 6, 0, 0), want);  // ports 0 are ports
}

sniffer_record icmp_record(const char* src, const char* dst, std::uint8_t type) {
  sniffer_record r{};
  r.ip_version = 4;
  r.l4_proto = 1;
  r.l3_hdr_len = 20;
  r.ip_total_len = 28;
  r.l4_hdr_len = 8;
  r.icmp_type = type;
  std::memcpy(r.saddr, addr(src).data(), 4);
  std::memcpy(r.daddr, addr(dst).data(), 4);
  return r;
}

TEST(CommunityId, RecordsAndTheirFlowAgree) {
  // A flow that starts with an echo reply (the capture began late): the
  // flow, the reply and the request all give the spec's ID.
  const sniffer_record reply = icmp_record("192.168.0.1", "192.168.0.89", 0);
  const sniffer_record request = icmp_record("192.168.0.89", "192.168.0.1", 8);
  FlowPacket first{};
  ASSERT_TRUE(flow_packet_of(reply, 1000, first));
  sniffer_flow_params params{};
  sniffer_flow_state flow{};
  sniffer_flow_init(&flow, &first.key, sniffer_flow_orig_is_a(&first.packet, first.a_to_b), 1, &first.packet, 1, 0, 0,
                    &params);
  const std::string want = "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=";
  EXPECT_EQ(community_id(community_id_tuple(flow), 0), want);
  EXPECT_EQ(community_id(community_id_tuple(reply), 0), want);
  EXPECT_EQ(community_id(community_id_tuple(request), 0), want);
  // A one-way message starts a flow whose ID keeps the sender first.
  const sniffer_record exceeded = icmp_record("10.0.0.2", "10.0.0.1", 11);
  ASSERT_TRUE(flow_packet_of(exceeded, 1000, first));
  sniffer_flow_init(&flow, &first.key, sniffer_flow_orig_is_a(&first.packet, first.a_to_b), 2, &first.packet, 1, 0, 0,
                    &params);
  EXPECT_EQ(community_id(community_id_tuple(flow), 0), "1:c5iqfdGYsNWhMJVcYXWPNWbpnKs=");
}

// The ID computed without EVP (low-level SHA-1, base64 by hand) equals
// EVP's SHA-1 and EVP_EncodeBlock, on random tuples of both address families,
// with and without ports, under random seeds: every base64 character occurs.
TEST(CommunityId, EqualsEvpOnRandomTuples) {
  std::mt19937 rng(14);
  for (int i = 0; i < 20000; ++i) {
    CommunityIdTuple t;
    t.addr_len = i % 2 ? 4 : 16;
    for (std::size_t b = 0; b < t.addr_len; ++b) {
      t.src[b] = static_cast<std::uint8_t>(rng());
      t.dst[b] = static_cast<std::uint8_t>(rng());
    }
    t.proto = static_cast<std::uint8_t>(rng());
    t.has_ports = i % 3 != 0;
    t.sport = static_cast<std::uint16_t>(rng());
    t.dport = static_cast<std::uint16_t>(rng());
    const auto seed = static_cast<std::uint16_t>(rng());
    Bytes in = be16(seed);
    in.insert(in.end(), t.src.begin(), t.src.begin() + t.addr_len);
    in.insert(in.end(), t.dst.begin(), t.dst.begin() + t.addr_len);
    in.push_back(t.proto);
    in.push_back(0);
    if (t.has_ports) {
      for (const Bytes& part : {be16(t.sport), be16(t.dport)}) in.insert(in.end(), part.begin(), part.end());
    }
    ASSERT_EQ(community_id(t, seed), hash_of(in)) << i;
  }
}

// The two-at-once SHA-1 (the CPU's SHA instructions) against EVP's, on random
// messages of every length a single block holds; on a CPU without them it
// declines (and the pair of IDs below takes libcrypto's).
TEST(CommunityId, Sha1PairEqualsEvp) {
  std::mt19937 rng(15);
  int done = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes a(static_cast<std::size_t>(rng() % (kSha1PairMaxBytes + 1))), b(rng() % (kSha1PairMaxBytes + 1));
    for (auto& x : a) x = static_cast<std::uint8_t>(rng());
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    std::uint8_t da[20], db[20];
    if (!sha1_pair(a.data(), a.size(), b.data(), b.size(), da, db)) continue;
    ++done;
    unsigned char ea[20], eb[20];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(a.data(), a.size(), ea, &len, EVP_sha1(), nullptr), 1);
    ASSERT_EQ(EVP_Digest(b.data(), b.size(), eb, &len, EVP_sha1(), nullptr), 1);
    ASSERT_EQ(std::memcmp(da, ea, 20), 0) << i << " length " << a.size();
    ASSERT_EQ(std::memcmp(db, eb, 20), 0) << i << " length " << b.size();
  }
  std::uint8_t da[20], db[20];
  const Bytes longer(kSha1PairMaxBytes + 1, 7);
  EXPECT_FALSE(sha1_pair(longer.data(), longer.size(), longer.data(), 1, da, db));
  if (sha1_pair_available()) {
    EXPECT_EQ(done, 20000);
  }
}

// Two IDs at once equal each one alone (IPv4 and IPv6 mixed, ports or none).
TEST(CommunityId, PairEqualsOneByOne) {
  std::mt19937 rng(16);
  for (int i = 0; i < 5000; ++i) {
    CommunityIdTuple t[2];
    for (int k = 0; k < 2; ++k) {
      t[k].addr_len = rng() % 2 ? 4 : 16;
      for (std::size_t b = 0; b < t[k].addr_len; ++b) {
        t[k].src[b] = static_cast<std::uint8_t>(rng());
        t[k].dst[b] = static_cast<std::uint8_t>(rng());
      }
      t[k].proto = static_cast<std::uint8_t>(rng());
      t[k].has_ports = rng() % 3 != 0;
      t[k].sport = static_cast<std::uint16_t>(rng());
      t[k].dport = static_cast<std::uint16_t>(rng());
    }
    const auto seed = static_cast<std::uint16_t>(rng());
    char a[kCommunityIdLength], b[kCommunityIdLength];
    write_community_id_pair(a, t[0], b, t[1], seed);
    ASSERT_EQ(std::string(a, sizeof a), community_id(t[0], seed)) << i;
    ASSERT_EQ(std::string(b, sizeof b), community_id(t[1], seed)) << i;
  }
}

}  // namespace
}  // namespace sniffer
