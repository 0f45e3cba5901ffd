// Zeek's connection states and histories, and the originator of a flow
// whose first packet is a SYN+ACK.
#include <gtest/gtest.h>

#include "flow_packets.hpp"

namespace sniffer::test {
namespace {

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

TEST_F(FlowTableTest, EachRetryOfARefusedConnectionIsItsOwnRejectedFlow) {
  // Zeek's Traces/pop3.pcap: a client retries a refused connection with the
  // same sequence number; Zeek logs one REJ per attempt.
  FlowTable t = make();
  for (std::uint64_t attempt = 0; attempt < 3; ++attempt) {
    Packet syn = tcp(attempt * kSec, true, SYN);
    syn.record.tcp_seq = 4242;
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

}  // namespace
}  // namespace sniffer::test
