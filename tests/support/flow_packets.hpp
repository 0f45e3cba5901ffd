// Flow table tests: packets of one client/server conversation, as the
// parser records them and as the record processor turns them into the
// FlowPackets the table takes; a fixture that keeps every exported record.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_table.hpp"

namespace sniffer::test {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000'000'000;
constexpr std::uint64_t kT0 = 1'700'000'000ull * kSec;  // an epoch time

constexpr std::uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

// One packet's record and the time it was seen; becomes the FlowPacket a
// table takes wherever one is expected.
struct Packet {
  sniffer_record record{};
  std::uint64_t ts = 0;

  operator FlowPacket() const {  // NOLINT(google-explicit-constructor): reads as a packet at call sites
    FlowPacket p{};
    EXPECT_TRUE(flow_packet_of(record, ts, p));
    return p;
  }
};

// A client (198.51.100.10:40000) talking to a server (192.0.2.10:80), seen
// at kT0 + t on a WAN interface (ifindex 3) of a gateway.
inline Packet packet(std::uint64_t t, bool from_client, std::uint32_t payload, std::uint8_t proto = 17,
                     std::uint8_t flags = 0, std::uint16_t window = 0) {
  Packet p;
  p.ts = kT0 + t;
  sniffer_record& r = p.record;
  r.ip_version = 4;
  r.l4_proto = proto;
  inet_pton(AF_INET, from_client ? "198.51.100.10" : "192.0.2.10", r.saddr);
  inet_pton(AF_INET, from_client ? "192.0.2.10" : "198.51.100.10", r.daddr);
  r.sport = from_client ? 40000 : 80;
  r.dport = from_client ? 80 : 40000;
  const std::uint16_t l4 = proto == 6 ? 20 : 8;
  r.l3_hdr_len = 20;
  r.l4_hdr_len = l4;
  r.ip_total_len = static_cast<std::uint16_t>(20 + l4 + payload);
  r.wire_len = 14 + 20 + l4 + payload;
  r.tcp_flags = flags;
  r.tcp_window = window;
  r.ifindex = 3;
  r.mode = SNIFFER_MODE_GATEWAY;
  r.is_wan_facing = 1;
  return p;
}

inline Packet tcp(std::uint64_t t, bool from_client, std::uint8_t flags, std::uint32_t payload = 0,
                  std::uint16_t window = 1000) {
  return packet(t, from_client, payload, 6, flags, window);
}

// n TCP packets over `flows` client ports, random flags (FIN, RST and SYN
// end and restart flows), time moving on.
inline std::vector<Packet> random_packets(std::size_t n, std::uint16_t flows, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Packet> v;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t flags[] = {ACK, ACK, ACK, ACK | PSH, SYN, SYN | ACK, FIN | ACK, RST};
    Packet p = tcp(i * kMs, rng() % 2 == 0, flags[rng() % 8], rng() % 1400);
    const auto port = static_cast<std::uint16_t>(20000 + rng() % flows);
    (p.record.sport == 80 ? p.record.dport : p.record.sport) = port;
    v.push_back(p);
  }
  return v;
}

// Keeps every record a table exports, in order.
class FlowTableTest : public ::testing::Test {
 protected:
  std::vector<v1::FlowRecord> out;

  FlowTable make(FlowTableConfig cfg = {}) {
    return FlowTable(cfg, [this](const FlowState& f, v1::FlowEndReason reason, bool update) {
      v1::FlowRecord r;
      f.to_proto(r, reason, update);
      out.push_back(r);
    });
  }
};

}  // namespace sniffer::test
