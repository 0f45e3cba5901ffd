// bpf tier, kernel flows: account_flow (bpf/flows.bpf.h) run by the real
// programs on sequences of frames, with the capture times of an offline
// replay as the clock. Each step is a row (counter deltas, the flow records
// it sends); after a sequence, the entries of the "flows" map and their
// features: TCP state and history, both directions' packets and bytes,
// timestamps, and the records of flows that ended.
#include <string>

#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

constexpr std::uint64_t kMs = 1'000'000, kSecond = 1000 * kMs;
constexpr std::uint64_t kT0 = 1000 * kSecond;
constexpr std::uint64_t kGrace = 2 * kSecond, kIdle = 60 * kSecond;

// The client sorts after the server bytewise: the server is side A, so the
// client's packets go B -> A and the originator is side B.
constexpr const char* kClient = "198.51.100.10";
constexpr const char* kServer = "192.0.2.10";

Frame from_client(TcpFields tcp) {
  tcp.sport = 40000;
  tcp.dport = 80;
  return Frame{}.ipv4({.src = kClient, .dst = kServer}).tcp(tcp);
}
Frame from_server(TcpFields tcp) {
  tcp.sport = 80;
  tcp.dport = 40000;
  return Frame{}.ipv4({.src = kServer, .dst = kClient}).tcp(tcp);
}
Frame udp(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport, std::size_t payload) {
  return Frame{}.ipv4({.src = src, .dst = dst}).udp({.sport = sport, .dport = dport, .payload = std::string(payload, 'u')});
}

// A packet that joins a flow and yields no packet record (none sampled).
const CounterDeltas kJoined{{SNIFFER_STAT_FLOW_PACKETS, 1}, {SNIFFER_STAT_SAMPLED_OUT, 1},
                            {SNIFFER_STAT_FLOW_RECORDS, 0}, {SNIFFER_STAT_RECORDS, 0}};
// The same, ending the flow before it: one flow record.
const CounterDeltas kEndedOne{{SNIFFER_STAT_FLOW_PACKETS, 1}, {SNIFFER_STAT_FLOW_RECORDS, 1}};

struct Sent {  // a flow record a step sends
  std::uint8_t end_reason;
  std::uint8_t is_update;
  std::uint64_t flow_id;
};

struct Step {
  std::string description;
  std::uint64_t ts;  // capture time
  Bytes frame;
  CounterDeltas counters = kJoined;
  std::vector<Sent> sent;
  Hook hook = Hook::Xdp;
  std::uint32_t verdict = kXdpPass;
};

class KernelFlowsTest : public ProgramsTest {
 protected:
  void load_flows(LoadOptions options = {}) {
    options.flow_kernel = true;
    options.flow_params = {.idle_timeout_ns = kIdle, .active_timeout_ns = options.flow_params.active_timeout_ns,
                           .tcp_close_grace_ns = kGrace, .activity_timeout_ns = 5 * kSecond,
                           .subflow_gap_ns = kSecond, .bulk_gap_ns = kSecond};
    if (!options.flow_params.active_timeout_ns) options.flow_params.active_timeout_ns = 3600 * kSecond;
    load(options);
    configure();
  }

  void run_steps(const std::vector<Step>& steps) {
    for (const Step& s : steps) {
      progs_->set_replay_packet(s.ts, static_cast<std::uint32_t>(s.frame.size()));
      check(Row{.description = s.description, .frame = s.frame, .verdict = s.verdict, .counters = s.counters,
                .hook = s.hook});
      ASSERT_EQ(flow_records_.size(), s.sent.size()) << s.description;
      for (std::size_t i = 0; i < s.sent.size(); ++i) {
        EXPECT_EQ(flow_records_[i].end_reason, s.sent[i].end_reason) << s.description;
        EXPECT_EQ(flow_records_[i].is_update, s.sent[i].is_update) << s.description;
        EXPECT_EQ(flow_records_[i].state.flow_id, s.sent[i].flow_id) << s.description;
        ended_.push_back(flow_records_[i]);
      }
    }
  }

  std::vector<sniffer_flow_record> ended_;  // every flow record the steps sent
};

std::string history(const sniffer_flow_state& s) {
  return std::string(reinterpret_cast<const char*>(s.history), s.history_len);
}

TEST_F(KernelFlowsTest, TcpHandshakeDataAndCloseMakeOneFlowEndedByFin) {
  load_flows();
  const Bytes syn = from_client({.flags = kSyn, .window = 64240});
  const Bytes syn_ack = from_server({.flags = kSyn | kAck, .window = 65160, .seq = 7000, .ack = 1001});
  const Bytes ack = from_client({.flags = kAck, .window = 502, .seq = 1001, .ack = 7001});
  const Bytes request = from_client({.flags = kPsh | kAck, .window = 502, .payload = std::string(100, 'q')});
  const Bytes response = from_server({.flags = kPsh | kAck, .window = 509, .payload = std::string(200, 'r')});
  const Bytes fin_c = from_client({.flags = kFin | kAck, .window = 502});
  const Bytes fin_s = from_server({.flags = kFin | kAck, .window = 509});
  run_steps({
      {"client SYN", kT0, syn},
      {"server SYN+ACK", kT0 + 1 * kMs, syn_ack},
      {"client ACK", kT0 + 2 * kMs, ack},
      {"client request", kT0 + 3 * kMs, request},
      {"server response", kT0 + 4 * kMs, response},
      {"client FIN", kT0 + 5 * kMs, fin_c},
      {"server FIN: the flow closes", kT0 + 6 * kMs, fin_s},
      {"client's last ACK, within the close grace", kT0 + 7 * kMs, ack},
  });
  auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  const sniffer_flow_state& f = flows[0];
  EXPECT_EQ(f.flow_id, 1u);
  EXPECT_EQ(address(f.key.addr_a, 4), kServer);
  EXPECT_EQ(address(f.key.addr_b, 4), kClient);
  EXPECT_EQ(f.key.port_a, 80);
  EXPECT_EQ(f.key.port_b, 40000);
  EXPECT_EQ(f.key.l4_proto, 6);
  EXPECT_EQ(f.key.ip_version, 4);
  EXPECT_EQ(f.key.vlan_id, 0);
  EXPECT_EQ(f.fwd_is_a_to_b, 0);  // the client (side B) sent the SYN
  EXPECT_EQ(f.first_ts, kT0);
  EXPECT_EQ(f.last_ts, kT0 + 7 * kMs);
  EXPECT_EQ(f.closing_since, kT0 + 6 * kMs);
  EXPECT_EQ(f.tcp, SNIFFER_TCP_SYN_ORIG | SNIFFER_TCP_SYNACK_RESP | SNIFFER_TCP_FIN_ORIG | SNIFFER_TCP_FIN_RESP |
                       SNIFFER_TCP_HAS_SYN_SEQ | SNIFFER_TCP_CLOSING);
  EXPECT_EQ(f.syn_seq, 1000u);
  EXPECT_EQ(history(f), "ShADdFf");  // the last ACK repeats the client's A
  EXPECT_EQ(f.fwd.payload.count, 5u);  // SYN, ACK, request, FIN, ACK
  EXPECT_EQ(f.bwd.payload.count, 3u);  // SYN+ACK, response, FIN
  EXPECT_EQ(f.fwd.payload.sum, 100u);
  EXPECT_EQ(f.bwd.payload.sum, 200u);
  EXPECT_EQ(f.fwd.bytes, syn.size() + 2 * ack.size() + request.size() + fin_c.size());
  EXPECT_EQ(f.bwd.bytes, syn_ack.size() + response.size() + fin_s.size());
  EXPECT_EQ(f.fwd.header_bytes, 5u * 40);
  EXPECT_EQ(f.fwd.data_packets, 1u);
  EXPECT_EQ(f.bwd.data_packets, 1u);
  EXPECT_EQ(f.fwd.init_window, 64240);
  EXPECT_EQ(f.bwd.init_window, 65160);
  EXPECT_EQ(f.flag_counts[0], 2u);  // FIN
  EXPECT_EQ(f.flag_counts[1], 2u);  // SYN
  EXPECT_EQ(f.flag_counts[2], 0u);  // RST
  EXPECT_EQ(f.flag_counts[3], 2u);  // PSH
  EXPECT_EQ(f.flag_counts[4], 7u);  // ACK: all but the SYN
  EXPECT_EQ(f.iat_ns.count, 7u);
  EXPECT_EQ(f.iat_ns.sum, 7 * kMs);
  EXPECT_EQ(f.ifindex, kLoopback);
  EXPECT_EQ(f.mode, SNIFFER_MODE_GATEWAY);
  EXPECT_EQ(f.is_wan_facing, 1);

  // A packet once the close grace is over: the flow ends (FIN) before it,
  // and the packet starts flow 2.
  run_steps({{"a late ACK after the grace", kT0 + 6 * kMs + kGrace, ack, kEndedOne,
              {{SNIFFER_FLOW_END_FIN, 0, 1}}}});
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].state.fwd.payload.count, 5u);
  EXPECT_EQ(ended_[0].state.bwd.payload.count, 3u);
  EXPECT_EQ(ended_[0].state.last_ts, kT0 + 7 * kMs);
  flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow_id, 2u);
  EXPECT_EQ(flows[0].first_ts, kT0 + 6 * kMs + kGrace);
  EXPECT_EQ(flows[0].fwd.payload.count + flows[0].bwd.payload.count, 1u);
  EXPECT_EQ(progs_->flows_created(), 2u);
}

TEST_F(KernelFlowsTest, ResetClosesAndTheNextSynStartsANewFlow) {
  load_flows();
  run_steps({
      {"client SYN", kT0, from_client({.flags = kSyn})},
      {"server RST+ACK: refused", kT0 + 1 * kMs, from_server({.flags = kRst | kAck, .seq = 0, .ack = 1001})},
  });
  auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].tcp, SNIFFER_TCP_SYN_ORIG | SNIFFER_TCP_RST_RESP | SNIFFER_TCP_HAS_SYN_SEQ | SNIFFER_TCP_CLOSING);
  EXPECT_EQ(history(flows[0]), "Sr");
  EXPECT_EQ(flows[0].flag_counts[2], 1u);
  // Within the grace, a retry (same sequence number) is a new connection.
  run_steps({{"client SYN again", kT0 + 2 * kMs, from_client({.flags = kSyn}), kEndedOne,
              {{SNIFFER_FLOW_END_RST, 0, 1}}}});
  flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow_id, 2u);
  EXPECT_EQ(flows[0].tcp, SNIFFER_TCP_SYN_ORIG | SNIFFER_TCP_HAS_SYN_SEQ);
}

TEST_F(KernelFlowsTest, ASynWithAnotherSequenceNumberReusesThePort) {
  load_flows();
  run_steps({
      {"client SYN", kT0, from_client({.flags = kSyn, .seq = 1000})},
      {"retransmitted SYN: the same flow", kT0 + kSecond, from_client({.flags = kSyn, .seq = 1000})},
      {"a SYN with another sequence number", kT0 + 2 * kSecond, from_client({.flags = kSyn, .seq = 5000}),
       kEndedOne, {{SNIFFER_FLOW_END_PORT_REUSE, 0, 1}}},
  });
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].state.fwd.payload.count, 2u);
  EXPECT_EQ(ended_[0].state.flag_counts[1], 2u);
  const auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].syn_seq, 5000u);
}

TEST_F(KernelFlowsTest, UdpBothDirectionsCountPacketsBytesAndTimes) {
  load_flows();
  const Bytes q1 = udp(kClient, kServer, 5353, 53, 10), q2 = udp(kClient, kServer, 5353, 53, 20);
  const Bytes q3 = udp(kClient, kServer, 5353, 53, 30);
  const Bytes a1 = udp(kServer, kClient, 53, 5353, 100), a2 = udp(kServer, kClient, 53, 5353, 50);
  run_steps({
      {"query 1", kT0, q1},
      {"answer 1", kT0 + 1 * kMs, a1},
      {"query 2", kT0 + 3 * kMs, q2},
      {"answer 2", kT0 + 4 * kMs, a2},
      {"query 3", kT0 + 10 * kMs, q3},
  });
  auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  const sniffer_flow_state& f = flows[0];
  EXPECT_EQ(f.key.l4_proto, 17);
  EXPECT_EQ(f.fwd_is_a_to_b, 0);
  EXPECT_EQ(f.first_ts, kT0);
  EXPECT_EQ(f.last_ts, kT0 + 10 * kMs);
  EXPECT_EQ(f.fwd.payload.count, 3u);
  EXPECT_EQ(f.fwd.payload.sum, 60u);
  EXPECT_EQ(f.fwd.payload.min, 10u);
  EXPECT_EQ(f.fwd.payload.max, 30u);
  EXPECT_EQ(f.bwd.payload.count, 2u);
  EXPECT_EQ(f.bwd.payload.sum, 150u);
  EXPECT_EQ(f.bwd.payload.min, 50u);
  EXPECT_EQ(f.bwd.payload.max, 100u);
  EXPECT_EQ(f.fwd.bytes, q1.size() + q2.size() + q3.size());
  EXPECT_EQ(f.bwd.bytes, a1.size() + a2.size());
  EXPECT_EQ(f.fwd.header_bytes, 3u * 28);
  EXPECT_EQ(f.fwd.iat_ns.count, 2u);
  EXPECT_EQ(f.fwd.iat_ns.sum, 10 * kMs);
  EXPECT_EQ(f.fwd.iat_ns.max, 7 * kMs);
  EXPECT_EQ(f.bwd.iat_ns.sum, 3 * kMs);
  EXPECT_EQ(f.fwd.last_ts, kT0 + 10 * kMs);
  EXPECT_EQ(f.bwd.last_ts, kT0 + 4 * kMs);
  EXPECT_EQ(f.tcp, 0);
  EXPECT_EQ(history(f), "Dd");

  // Idle past the timeout: the next packet ends it first.
  run_steps({{"a query after the idle timeout", kT0 + 10 * kMs + kIdle, q1, kEndedOne,
              {{SNIFFER_FLOW_END_IDLE_TIMEOUT, 0, 1}}}});
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].state.fwd.payload.count + ended_[0].state.bwd.payload.count, 5u);
  flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow_id, 2u);
  EXPECT_EQ(flows[0].first_ts, kT0 + 10 * kMs + kIdle);
}

TEST_F(KernelFlowsTest, ActiveTimeoutSendsUpdatesAndTheFlowGoesOn) {
  load_flows({.flow_params = {.active_timeout_ns = 10 * kSecond}});
  const Bytes q = udp(kClient, kServer, 5353, 53, 10);
  run_steps({
      {"first", kT0, q},
      {"before the timeout", kT0 + 5 * kSecond, q},
      {"at the timeout: an update", kT0 + 10 * kSecond, q, kEndedOne, {{SNIFFER_FLOW_END_ACTIVE_TIMEOUT, 1, 1}}},
      {"after it", kT0 + 15 * kSecond, q},
      {"the next update", kT0 + 20 * kSecond, q, kEndedOne, {{SNIFFER_FLOW_END_ACTIVE_TIMEOUT, 1, 1}}},
  });
  ASSERT_EQ(ended_.size(), 2u);
  EXPECT_EQ(ended_[0].state.update_count, 0u);
  EXPECT_EQ(ended_[0].state.fwd.payload.count, 3u);
  EXPECT_EQ(ended_[1].state.update_count, 1u);
  EXPECT_EQ(ended_[1].state.fwd.payload.count, 5u);
  const auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].update_count, 2u);
  EXPECT_EQ(flows[0].next_update_ts, kT0 + 30 * kSecond);
}

TEST_F(KernelFlowsTest, SynAckFirstMakesItsReceiverTheOriginator) {
  load_flows();
  run_steps({{"server SYN+ACK, the handshake's start not captured", kT0, from_server({.flags = kSyn | kAck})}});
  const auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].fwd_is_a_to_b, 0);  // the client, side B, is the originator
  EXPECT_EQ(flows[0].fwd.payload.count, 0u);
  EXPECT_EQ(flows[0].bwd.payload.count, 1u);
  EXPECT_EQ(flows[0].tcp, SNIFFER_TCP_SYNACK_RESP);
  EXPECT_EQ(history(flows[0]), "h");
}

TEST_F(KernelFlowsTest, VlanAndFamilySeparateFlows) {
  load_flows();
  run_steps({
      {"untagged", kT0, udp(kClient, kServer, 1, 2, 0)},
      {"VLAN 10", kT0 + 1 * kMs, Frame{}.vlan(10).ipv4({.src = kClient, .dst = kServer}).udp({.sport = 1, .dport = 2})},
      {"IPv6", kT0 + 2 * kMs, Frame{}.ipv6().udp({.sport = 1, .dport = 2})},
  });
  const auto flows = flow_entries();
  ASSERT_EQ(flows.size(), 3u);
  EXPECT_EQ(flows[0].key.vlan_id, 0);
  EXPECT_EQ(flows[1].key.vlan_id, 10);
  EXPECT_EQ(flows[2].key.ip_version, 6);
  EXPECT_EQ(address(flows[2].key.addr_a, 6), "2001:db8:100::10");
}

TEST_F(KernelFlowsTest, AFullMapSendsTheNewFlowAsOnePacketRecord) {
  load_flows({.flow_max_entries = 1});
  run_steps({
      {"the flow that fits", kT0, udp(kClient, kServer, 1, 2, 0)},
      {"a second flow: no room", kT0 + 1 * kMs, udp(kClient, kServer, 3, 4, 5),
       {{SNIFFER_STAT_FLOW_MAP_FULL, 1}, {SNIFFER_STAT_FLOW_PACKETS, 1}, {SNIFFER_STAT_FLOW_RECORDS, 1}},
       {{SNIFFER_FLOW_END_TABLE_FULL, 0, 2}}},
  });
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].state.fwd.payload.count, 1u);
  EXPECT_EQ(ended_[0].state.fwd.payload.sum, 5u);
  EXPECT_EQ(ended_[0].state.first_ts, kT0 + 1 * kMs);
  EXPECT_EQ(flow_entries().size(), 1u);
}

TEST_F(KernelFlowsTest, PacketsThatBelongToNoFlowAreSkipped) {
  load_flows();
  const CounterDeltas skipped{{SNIFFER_STAT_FLOW_SKIPPED, 1}, {SNIFFER_STAT_FLOW_PACKETS, 0}};
  run_steps({
      {"not IP", kT0, Frame{}.ethertype(0x0806).pad_to(42), skipped},
      {"the IP header cut", kT0, Frame{}.ipv4().udp({}).cut(14 + 10), skipped},
      {"TC egress, not from a host address: a forwarded packet", kT0, udp(kClient, kServer, 1, 2, 0), skipped, {},
       Hook::TcEgress, kTcContinue},
  });
  EXPECT_TRUE(flow_entries().empty());
  std::array<std::uint8_t, 16> client{};
  const auto v4 = ip4(kClient);
  std::copy(v4.begin(), v4.end(), client.begin());
  progs_->set_local_addresses({{4, client}});
  run_steps({{"TC egress from the host's address", kT0, udp(kClient, kServer, 1, 2, 0), kJoined, {}, Hook::TcEgress,
              kTcContinue}});
  EXPECT_EQ(flow_entries().size(), 1u);
}

TEST_F(KernelFlowsTest, RecordPortsStillYieldPacketRecords) {
  load_flows();
  progs_->set_filter(FilterConfig{}, {53});
  progs_->set_replay_packet(kT0, 64);
  check({
      {.description = "to a record port: a packet record too",
       .frame = udp(kClient, kServer, 5353, 53, 1),
       .record = RecordFields{.dport = 53},
       .counters = {{SNIFFER_STAT_FLOW_PACKETS, 1}, {SNIFFER_STAT_SAMPLED_OUT, 0}, {SNIFFER_STAT_RECORDS, 1}}},
      {.description = "to another port: the flow only", .frame = udp(kClient, kServer, 5353, 54, 1),
       .counters = kJoined},
  });
  EXPECT_EQ(flow_entries().size(), 2u);
}

TEST_F(KernelFlowsTest, OneInOneSamplingRecordsEveryPacket) {
  load_flows({.packet_sample = 1});
  progs_->set_replay_packet(kT0, 64);
  check(Row{.description = "sampled",
            .frame = udp(kClient, kServer, 1, 2, 0),
            .record = RecordFields{.sport = 1},
            .counters = {{SNIFFER_STAT_FLOW_PACKETS, 1}, {SNIFFER_STAT_SAMPLED_OUT, 0}, {SNIFFER_STAT_RECORDS, 1}}});
}

}  // namespace
}  // namespace sniffer::test
