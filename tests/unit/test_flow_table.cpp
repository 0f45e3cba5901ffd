// Flow features with hand-computed expected values, table life cycle
// (FIN/RST, idle and active timeouts at their exact boundaries, eviction).
#include <arpa/inet.h>

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_table.hpp"

namespace sniffer {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSec = 1'000'000'000;
constexpr std::uint64_t kT0 = 1'700'000'000ull * kSec;  // an epoch time

constexpr std::uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

struct Exported {
  v1::FlowRecord record;
};

// A client (198.51.100.10:40000) talking to a server (192.0.2.10:80).
PacketInfo packet(std::uint64_t t, bool from_client, std::uint32_t payload, std::uint8_t proto = 17,
                  std::uint8_t flags = 0, std::uint16_t window = 0) {
  PacketInfo p;
  p.ts_ns = kT0 + t;
  p.ip_version = 4;
  p.l4_proto = proto;
  std::array<std::uint8_t, 16> client{}, server{};
  inet_pton(AF_INET, "198.51.100.10", client.data());
  inet_pton(AF_INET, "192.0.2.10", server.data());
  p.src = from_client ? client : server;
  p.dst = from_client ? server : client;
  p.sport = from_client ? 40000 : 80;
  p.dport = from_client ? 80 : 40000;
  const std::uint32_t l4 = proto == 6 ? 20 : 8;
  p.header_len = 20 + l4;
  p.payload_len = payload;
  p.wire_len = 14 + 20 + l4 + payload;
  p.has_tcp_header = proto == 6;
  p.tcp_flags = flags;
  p.tcp_window = window;
  p.ifindex = 3;
  p.mode = SNIFFER_MODE_GATEWAY;
  p.is_wan_facing = true;
  return p;
}

PacketInfo tcp(std::uint64_t t, bool from_client, std::uint8_t flags, std::uint32_t payload = 0,
               std::uint16_t window = 1000) {
  return packet(t, from_client, payload, 6, flags, window);
}

class FlowTableTest : public ::testing::Test {
 protected:
  std::vector<v1::FlowRecord> out;

  FlowTable make(FlowTableConfig cfg = {}) {
    return FlowTable(
        cfg,
        [this](const FlowState& f, v1::FlowEndReason reason, bool update) {
          v1::FlowRecord r;
          f.to_proto(r, reason, update);
          out.push_back(r);
        },
        [](const PacketInfo&) { return std::uint8_t{v1::FLOW_DIRECTION_INBOUND}; });
  }
};

TEST_F(FlowTableTest, SinglePacketFlow) {
  FlowTable t = make();
  t.add(packet(0, true, 100));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  EXPECT_EQ(r.end_reason(), v1::FLOW_END_END_OF_CAPTURE);
  EXPECT_EQ(r.fwd().packets(), 1u);
  EXPECT_EQ(r.fwd().bytes(), 14u + 28 + 100);
  EXPECT_EQ(r.fwd().payload_bytes(), 100u);
  EXPECT_EQ(r.fwd().header_bytes(), 28u);
  EXPECT_EQ(r.bwd().packets(), 0u);
  EXPECT_EQ(r.duration_us(), 0.0);
  EXPECT_EQ(r.iat_us().count(), 0u);
  EXPECT_EQ(r.fwd().iat_us().count(), 0u);
  EXPECT_EQ(r.payload_length().mean(), 100.0);
  EXPECT_EQ(r.payload_length().std(), 0.0);  // one value: no spread, not NaN
  EXPECT_EQ(r.bytes_per_second(), 0.0);      // zero duration: 0, not infinity
  EXPECT_EQ(r.packets_per_second(), 0.0);
  EXPECT_EQ(r.down_up_ratio(), 0.0);
  EXPECT_EQ(r.subflow_count(), 1u);
  EXPECT_EQ(r.active_us().count(), 0u);
  EXPECT_EQ(r.idle_us().count(), 0u);
  EXPECT_EQ(r.fwd().init_window(), -1);  // not TCP
  EXPECT_EQ(r.conn_state(), "S0");       // UDP, one way (as Zeek)
  EXPECT_EQ(r.direction(), v1::FLOW_DIRECTION_INBOUND);
  EXPECT_EQ(r.ifindex(), 3u);
  EXPECT_EQ(r.role(), v1::ROLE_WAN);
}

TEST_F(FlowTableTest, BothDirectionsShareOneFlowAndTheFirstPacketIsForward) {
  FlowTable t = make();
  // The server speaks first: it is the "source" of the flow, though its
  // address sorts lower.
  t.add(packet(0, false, 10));
  t.add(packet(1 * kMs, true, 20));
  t.add(packet(3 * kMs, true, 0));
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  char buf[INET_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, r.src_addr().data(), buf, sizeof(buf)), "192.0.2.10");
  EXPECT_EQ(r.src_port(), 80u);
  EXPECT_EQ(r.dst_port(), 40000u);
  EXPECT_EQ(r.fwd().packets(), 1u);
  EXPECT_EQ(r.bwd().packets(), 2u);
  EXPECT_EQ(r.bwd().payload_bytes(), 20u);
  EXPECT_EQ(r.bwd().data_packets(), 1u);  // the zero-length one is not data
  EXPECT_DOUBLE_EQ(r.bwd().iat_us().mean(), 2000.0);
  EXPECT_DOUBLE_EQ(r.iat_us().mean(), 1500.0);  // 1 ms, 2 ms
  EXPECT_DOUBLE_EQ(r.iat_us().std(), std::sqrt(0.5) * 1000.0);
  EXPECT_DOUBLE_EQ(r.down_up_ratio(), 2.0);
  EXPECT_DOUBLE_EQ(r.duration_us(), 3000.0);
  EXPECT_DOUBLE_EQ(r.bytes_per_second(), 30.0 / 0.003);
  EXPECT_DOUBLE_EQ(r.packets_per_second(), 3.0 / 0.003);
  EXPECT_DOUBLE_EQ(r.bwd().packets_per_second(), 2.0 / 0.003);
}

TEST_F(FlowTableTest, TcpConnectionFeaturesAndTeardown) {
  FlowTableConfig cfg;
  cfg.tcp_close_grace_ns = 2 * kSec;
  FlowTable t = make(cfg);
  t.add(tcp(0, true, SYN, 0, 64240));
  t.add(tcp(1 * kMs, false, SYN | ACK, 0, 65160));
  t.add(tcp(2 * kMs, true, ACK));
  t.add(tcp(3 * kMs, true, PSH | ACK, 100));
  t.add(tcp(5 * kMs, false, PSH | ACK, 300));
  t.add(tcp(6 * kMs, true, FIN | ACK));
  t.add(tcp(7 * kMs, false, FIN | ACK));
  t.add(tcp(8 * kMs, true, ACK));  // the last ACK, inside the grace
  EXPECT_TRUE(out.empty());
  t.expire(kT0 + 7 * kMs + 2 * kSec - 1);  // grace counted from the second FIN
  EXPECT_TRUE(out.empty());
  t.expire(kT0 + 7 * kMs + 2 * kSec);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  EXPECT_EQ(r.end_reason(), v1::FLOW_END_FIN);
  EXPECT_EQ(r.fwd().packets(), 5u);
  EXPECT_EQ(r.bwd().packets(), 3u);
  EXPECT_EQ(r.fwd().payload_bytes(), 100u);
  EXPECT_EQ(r.bwd().payload_bytes(), 300u);
  EXPECT_EQ(r.fwd().init_window(), 64240);
  EXPECT_EQ(r.bwd().init_window(), 65160);
  EXPECT_EQ(r.syn_count(), 2u);
  EXPECT_EQ(r.fin_count(), 2u);
  EXPECT_EQ(r.ack_count(), 7u);
  EXPECT_EQ(r.psh_count(), 2u);
  EXPECT_EQ(r.fwd().psh_count(), 1u);
  EXPECT_EQ(r.bwd().psh_count(), 1u);
  EXPECT_EQ(r.rst_count(), 0u);
  EXPECT_EQ(r.fwd().data_packets(), 1u);
  EXPECT_EQ(r.fwd().header_bytes(), 5u * 40);
  EXPECT_EQ(r.fwd().min_header_bytes(), 40u);
  // fwd payload lengths 0,0,100,0,0: mean 20, sample std sqrt(2000)
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().mean(), 20.0);
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().std(), std::sqrt(2000.0));
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().max(), 100.0);
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().min(), 0.0);
  // fwd arrivals 0,2,3,6,8 ms: gaps 2,1,3,2 ms
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().total(), 8000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().min(), 1000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().max(), 3000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().mean(), 2000.0);
  EXPECT_EQ(r.conn_state(), "SF");
  EXPECT_EQ(r.history(), "ShADdFf");  // the responder never sent a pure ACK
  EXPECT_EQ(r.active_us().count(), 1u);
  EXPECT_DOUBLE_EQ(r.active_us().mean(), 8000.0);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().by_reason[v1::FLOW_END_FIN], 1u);
}

TEST_F(FlowTableTest, RejectedConnection) {
  FlowTable t = make();
  t.add(tcp(0, true, SYN));
  t.add(tcp(1 * kMs, false, RST | ACK));
  t.expire(kT0 + 1 * kMs + 2 * kSec);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_RST);
  EXPECT_EQ(out[0].conn_state(), "REJ");
  EXPECT_EQ(out[0].history(), "Sr");
}

TEST_F(FlowTableTest, ConnectionStatesWithoutTeardown) {
  FlowTable t = make();
  t.add(tcp(0, true, SYN));  // no answer
  t.flush(v1::FLOW_END_SHUTDOWN);
  EXPECT_EQ(out.back().conn_state(), "S0");
  t.add(tcp(0, true, SYN));
  t.add(tcp(1, false, SYN | ACK));
  t.add(tcp(2, true, ACK));
  t.flush(v1::FLOW_END_SHUTDOWN);
  EXPECT_EQ(out.back().conn_state(), "S1");
  t.add(tcp(0, true, PSH | ACK, 10));  // picked up mid-stream
  t.flush(v1::FLOW_END_SHUTDOWN);
  EXPECT_EQ(out.back().conn_state(), "OTH");
}

TEST_F(FlowTableTest, NewSynOnAClosedFlowStartsANewOne) {
  FlowTable t = make();
  PacketInfo syn = tcp(0, true, SYN);
  syn.tcp_seq = 1000;
  t.add(syn);
  t.add(tcp(1 * kMs, false, SYN | ACK));
  t.add(tcp(2 * kMs, true, FIN | ACK));
  t.add(tcp(3 * kMs, false, FIN | ACK));
  syn.ts_ns = kT0 + 4 * kMs;
  syn.tcp_seq = 9000;
  t.add(syn);  // port reuse, inside the grace
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_FIN);
  EXPECT_EQ(out[0].fwd().packets(), 2u);
  EXPECT_EQ(t.size(), 1u);
  t.expire(kT0 + 3 * kMs + 2 * kSec);  // the old closing entry must not end the new flow
  EXPECT_EQ(t.size(), 1u);
  t.flush(v1::FLOW_END_SHUTDOWN);
  EXPECT_EQ(out[1].fwd().packets(), 1u);
  EXPECT_NE(out[0].flow_id(), out[1].flow_id());
}

TEST_F(FlowTableTest, ASynAfterARstStartsANewFlowEvenWithTheSameSequenceNumber) {
  // The client aborts, then opens again on the same 5-tuple with the same
  // initial sequence number: a new connection (docs/flow-features.md), not
  // a retransmission in the old one. The old flow keeps its reason.
  FlowTable t = make();
  t.add(tcp(0, true, SYN));
  t.add(tcp(1 * kMs, false, SYN | ACK));
  t.add(tcp(2 * kMs, true, RST));
  t.add(tcp(3 * kMs, true, SYN));  // same sequence number as the first SYN
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].fwd().packets(), 2u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_RST);
  EXPECT_EQ(out[0].conn_state(), "RSTO");
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].fwd().packets(), 1u);
  EXPECT_EQ(out[1].conn_state(), "S0");
  EXPECT_NE(out[0].flow_id(), out[1].flow_id());
}

TEST_F(FlowTableTest, EachRetryOfARefusedConnectionIsItsOwnRejectedFlow) {
  // Zeek's Traces/pop3.pcap: a client retries a refused connection with the
  // same sequence number; Zeek logs one REJ per attempt.
  FlowTable t = make();
  for (std::uint64_t attempt = 0; attempt < 3; ++attempt) {
    PacketInfo syn = tcp(attempt * kSec, true, SYN);
    syn.tcp_seq = 4242;
    t.add(syn);
    t.add(tcp(attempt * kSec + 1 * kMs, false, RST | ACK));
  }
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& r : out) {
    EXPECT_EQ(r.conn_state(), "REJ");
    EXPECT_EQ(r.history(), "Sr");
    EXPECT_EQ(r.fwd().packets(), 1u);
    EXPECT_EQ(r.bwd().packets(), 1u);
    EXPECT_EQ(r.end_reason(), v1::FLOW_END_RST);
  }
}

TEST_F(FlowTableTest, LateAcksAndFinsStayInAClosedFlow) {
  FlowTable t = make();
  t.add(tcp(0, true, SYN));
  t.add(tcp(1 * kMs, false, SYN | ACK));
  t.add(tcp(2 * kMs, true, ACK));
  t.add(tcp(3 * kMs, false, RST | ACK));
  t.add(tcp(4 * kMs, true, FIN | ACK));  // late, inside the grace
  t.add(tcp(5 * kMs, true, ACK));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].fwd().packets(), 4u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_RST);
}

TEST_F(FlowTableTest, AFlowThatStartsWithASynAckRunsFromItsReceiver) {
  // Only the server's side is visible (Zeek's
  // Traces/ssh.server-side-half-duplex.pcap): the SYN+ACK's receiver is the
  // originator, as in Zeek, so the states read SHR / RSTRH, not OTH.
  FlowTable t = make();
  t.add(tcp(0, false, SYN | ACK, 0, 65160));
  t.add(tcp(1 * kMs, false, PSH | ACK, 40));
  t.add(tcp(2 * kMs, false, FIN | ACK));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  char buf[INET_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, r.src_addr().data(), buf, sizeof(buf)), "198.51.100.10");
  EXPECT_EQ(r.src_port(), 40000u);
  EXPECT_EQ(r.dst_port(), 80u);
  EXPECT_EQ(r.fwd().packets(), 0u);
  EXPECT_EQ(r.bwd().packets(), 3u);
  EXPECT_EQ(r.bwd().init_window(), 65160);
  EXPECT_EQ(r.fwd().init_window(), -1);
  EXPECT_EQ(r.conn_state(), "SHR");
  EXPECT_EQ(r.history(), "hdf");

  // Both sides visible, the SYN missed: the client's ACK is forward.
  t.add(tcp(10 * kSec, false, SYN | ACK));
  t.add(tcp(10 * kSec + 1 * kMs, true, ACK));
  t.add(tcp(10 * kSec + 2 * kMs, false, RST));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].src_port(), 40000u);
  EXPECT_EQ(out[1].fwd().packets(), 1u);
  EXPECT_EQ(out[1].bwd().packets(), 2u);
  EXPECT_EQ(out[1].conn_state(), "RSTRH");
  EXPECT_EQ(out[1].history(), "hAr");
}

TEST_F(FlowTableTest, TheDirectionIsClassifiedFromTheOriginator) {
  // The classifier sees the flow as its originator sends it: for a flow
  // that starts with a SYN+ACK, that packet reversed.
  std::vector<std::uint16_t> seen_sports;
  FlowTable t(
      FlowTableConfig{}, [this](const FlowState& f, v1::FlowEndReason reason, bool update) {
        v1::FlowRecord r;
        f.to_proto(r, reason, update);
        out.push_back(r);
      },
      [&](const PacketInfo& p) {
        seen_sports.push_back(p.sport);
        return std::uint8_t{v1::FLOW_DIRECTION_OUTBOUND};
      });
  t.add(tcp(0, false, SYN | ACK));
  ASSERT_EQ(seen_sports.size(), 1u);
  EXPECT_EQ(seen_sports[0], 40000u);
}

TEST_F(FlowTableTest, UdpFlowsHaveZeeksConnectionStates) {
  FlowTable t = make();
  t.add(packet(0, true, 30));  // a query nobody answers
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  t.add(packet(1 * kSec, true, 30));
  t.add(packet(1 * kSec + 1 * kMs, false, 90));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].conn_state(), "S0");
  EXPECT_EQ(out[0].history(), "D");
  EXPECT_EQ(out[1].conn_state(), "SF");
  EXPECT_EQ(out[1].history(), "Dd");
}

TEST_F(FlowTableTest, AMidStreamConnectionThatClosesIsOth) {
  // No SYN seen: OTH, as in Zeek, even after both FINs.
  FlowTable t = make();
  t.add(tcp(0, true, PSH | ACK, 10));
  t.add(tcp(1 * kMs, false, FIN | ACK));
  t.add(tcp(2 * kMs, true, FIN | ACK));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].conn_state(), "OTH");
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_FIN);
}

TEST_F(FlowTableTest, SynWithANewSequenceNumberStartsANewFlowEvenWhileOpen) {
  FlowTable t = make();
  PacketInfo syn = tcp(0, true, SYN);
  syn.tcp_seq = 1000;
  t.add(syn);
  syn.ts_ns += 1 * kSec;  // a retransmission: same sequence number, same flow
  t.add(syn);
  EXPECT_TRUE(out.empty());
  syn.ts_ns += 1 * kSec;
  syn.tcp_seq = 5000;  // a new attempt on the same 5-tuple
  t.add(syn);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_PORT_REUSE);
  EXPECT_EQ(out[0].fwd().packets(), 2u);
  EXPECT_EQ(out[0].conn_state(), "S0");
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(FlowTableTest, IdleTimeoutAtItsExactBoundary) {
  FlowTableConfig cfg;
  cfg.idle_timeout_ns = 10 * kSec;
  FlowTable t = make(cfg);
  t.add(packet(0, true, 1));
  t.add(packet(1 * kSec, false, 1));
  t.expire(kT0 + 11 * kSec - 1);
  EXPECT_TRUE(out.empty());
  t.expire(kT0 + 11 * kSec);  // last packet + idle timeout
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_IDLE_TIMEOUT);
  EXPECT_EQ(t.counters().ended, 1u);
}

TEST_F(FlowTableTest, ActiveTimeoutExportsCumulativeUpdates) {
  FlowTableConfig cfg;
  cfg.active_timeout_ns = 60 * kSec;
  FlowTable t = make(cfg);
  t.add(packet(0, true, 1));
  t.add(packet(59 * kSec, true, 1));
  EXPECT_TRUE(out.empty());
  t.add(packet(60 * kSec, true, 1));  // exactly one active timeout after the start
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].is_update());
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_ACTIVE_TIMEOUT);
  EXPECT_EQ(out[0].fwd().packets(), 3u);
  t.add(packet(61 * kSec, true, 1));
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[1].is_update());
  EXPECT_EQ(out[1].fwd().packets(), 4u);  // cumulative since the start
  EXPECT_EQ(out[1].update_count(), 1u);
  EXPECT_EQ(out[1].flow_id(), out[0].flow_id());
  EXPECT_EQ(t.counters().updates, 1u);
}

TEST_F(FlowTableTest, FullTableEvictsTheLeastRecentlySeenFlowAndCountsIt) {
  FlowTableConfig cfg;
  cfg.max_flows = 2;
  FlowTable t = make(cfg);
  PacketInfo a = packet(0, true, 1), b = packet(1, true, 1), c = packet(2, true, 1);
  b.sport = 40001;
  c.sport = 40002;
  t.add(a);
  t.add(b);
  a.ts_ns += 10;
  t.add(a);  // a is now more recent than b
  t.add(c);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_EVICTED);
  EXPECT_EQ(out[0].src_port(), 40001u);
  EXPECT_EQ(t.counters().evicted, 1u);
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(FlowTableTest, BulkNeedsFourDataPacketsWithoutDataFromTheOtherSide) {
  FlowTable t = make();
  // fwd data at 0, 100, 200, 300, 400 ms (a bulk of 5), then bwd data
  // breaks it, then two more fwd data packets (no second bulk).
  for (int i = 0; i < 5; ++i) t.add(packet(static_cast<std::uint64_t>(i) * 100 * kMs, true, 1000));
  t.add(packet(450 * kMs, false, 10));
  t.add(packet(500 * kMs, true, 1000));
  t.add(packet(600 * kMs, true, 1000));
  t.flush(v1::FLOW_END_SHUTDOWN);
  const auto& f = out[0].fwd();
  EXPECT_EQ(f.bulk_count(), 1u);
  EXPECT_EQ(f.bulk_packets(), 5u);
  EXPECT_EQ(f.bulk_bytes(), 5000u);
  EXPECT_DOUBLE_EQ(f.bulk_duration_us(), 400000.0);
  EXPECT_EQ(out[0].bwd().bulk_count(), 0u);
}

TEST_F(FlowTableTest, ActiveIdleAndSubflows) {
  FlowTable t = make();  // activity timeout 5 s, subflow gap 1 s
  t.add(packet(0, true, 1));
  t.add(packet(1 * kSec, true, 1));
  t.add(packet(7 * kSec, true, 1));   // 6 s idle
  t.add(packet(7500 * kMs, true, 1));  // 0.5 s: same subflow
  t.add(packet(9 * kSec, true, 1));   // 1.5 s: new subflow, still active
  t.flush(v1::FLOW_END_SHUTDOWN);
  const auto& r = out[0];
  ASSERT_EQ(r.active_us().count(), 2u);  // [0, 1 s] and [7 s, 9 s]
  EXPECT_DOUBLE_EQ(r.active_us().min(), 1e6);
  EXPECT_DOUBLE_EQ(r.active_us().max(), 2e6);
  ASSERT_EQ(r.idle_us().count(), 1u);
  EXPECT_DOUBLE_EQ(r.idle_us().mean(), 6e6);
  EXPECT_EQ(r.subflow_count(), 3u);  // gaps > 1 s at 7 s and 9 s
}

TEST_F(FlowTableTest, TimestampsNearTheEndOfTimeDoNotWrap) {
  // Found by fuzz_record: ts + timeout wrapped, so a new flow was exported
  // at once as an active-timeout update, and idle flows expired at once.
  FlowTable t = make();
  PacketInfo p = packet(0, true, 1);
  p.ts_ns = UINT64_MAX - 5;
  t.add(p);
  EXPECT_TRUE(out.empty());
  t.expire(UINT64_MAX - 4);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(t.size(), 1u);
  // Found by fuzz_record later: a packet stamped at UINT64_MAX itself met its
  // own saturated deadline and was exported at once as an update.
  p.ts_ns = UINT64_MAX;
  p.sport = 4000;
  t.add(p);
  t.expire(UINT64_MAX);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(FlowTableTest, VlansSeparateFlows) {
  FlowTable t = make();
  PacketInfo a = packet(0, true, 1), b = packet(1, true, 1);
  b.vlan_id = 20;
  t.add(a);
  t.add(b);
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(FlowTableTest, APacketAfterTheIdleTimeoutStartsANewFlowEvenBeforeExpireRuns) {
  FlowTableConfig cfg;
  cfg.idle_timeout_ns = 10 * kSec;
  FlowTable t = make(cfg);
  t.add(packet(0, true, 1));
  t.add(packet(10 * kSec, true, 1));  // due exactly now: no tick ran in between
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_IDLE_TIMEOUT);
  EXPECT_EQ(out[0].fwd().packets(), 1u);
  EXPECT_EQ(t.size(), 1u);  // the new flow, with the second packet
  EXPECT_EQ(t.counters().created, 2u);
}

TEST_F(FlowTableTest, AClockSteppingBackDoesNotReviveAFlowThatWasDue) {
  // A capture that holds the same connection twice (time steps back between
  // the copies): the first copy's flow was due at the latest time seen, so
  // the second copy starts its own flow.
  FlowTableConfig cfg;
  cfg.tcp_close_grace_ns = 1 * kSec;
  FlowTable t = make(cfg);
  t.add(tcp(0, true, SYN));
  t.add(tcp(1 * kMs, false, RST | ACK));  // closed: ends 1 s later
  t.expire(kT0 + 5 * kSec);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason(), v1::FLOW_END_RST);
  t.add(tcp(0, true, SYN));  // the same SYN again, stamped as before
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].fwd().packets(), 1u);
  EXPECT_NE(out[1].flow_id(), out[0].flow_id());
}

TEST(FlowMoments, SumsOfSquaresAreExactBeyond64Bits) {
  // Ten inter-arrival times of 2^40 ns and one of 2^40 + 1: their squares
  // overflow 64 bits; the standard deviation must still come out exact.
  sniffer_moments m{};
  const std::uint64_t x = 1ull << 40;
  for (int i = 0; i < 10; ++i) sniffer_moments_add(&m, x);
  sniffer_moments_add(&m, x + 1);
  EXPECT_EQ(m.count, 11u);
  EXPECT_EQ(m.sum, 11 * x + 1);
  const unsigned __int128 sumsq = (static_cast<unsigned __int128>(m.sumsq_hi) << 64) | m.sumsq_lo;
  EXPECT_TRUE(sumsq == static_cast<unsigned __int128>(x) * x * 11 + 2 * static_cast<unsigned __int128>(x) + 1);
  EXPECT_EQ(m.min, x);
  EXPECT_EQ(m.max, x + 1);
}

TEST_F(FlowTableTest, StdComesFromTheExactSums) {
  // IATs of 1e9 + {0, 1, 2} ns: a double sum of squares (about 3e18) cannot
  // hold the difference; the integer state gives the exact sample std.
  FlowTable t = make();
  t.add(packet(0, true, 1));
  t.add(packet(1'000'000'000, true, 1));
  t.add(packet(2'000'000'001, true, 1));
  t.add(packet(3'000'000'003, true, 1));
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_DOUBLE_EQ(out[0].fwd().iat_us().mean(), 1'000'000.001);
  EXPECT_DOUBLE_EQ(out[0].fwd().iat_us().std(), 1e-3);  // sample std of {0, 1, 2} ns, in us
}

TEST(FlowMemory, BytesPerFlowAreFixed) {
  // Per flow: the slot (state + LRU links, cached hash, update deadline) and
  // its share of the open-addressing index (FlowIndex: 8-byte buckets, at
  // least 2 per flow: 2 when max_flows is a power of two, under 4 otherwise),
  // independent of the packet count.
  constexpr std::size_t kIndexBuckets = 2 * 8;
  std::size_t per_flow = sizeof(FlowState) + 32 + kIndexBuckets;
  std::printf("sizeof(FlowState) = %zu bytes; about %zu bytes per flow with the index\n", sizeof(FlowState), per_flow);
  EXPECT_LE(per_flow, 1024u);
}

}  // namespace
}  // namespace sniffer
