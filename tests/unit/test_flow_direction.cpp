// A flow's direction, classified from its state (HostAddresses::classify):
// the same for a flow of the userspace table and one the kernel aggregated,
// from the originator's side.
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "flow_packets.hpp"
#include "sniffer/host_addresses.hpp"

namespace sniffer::test {
namespace {

HostAddresses::Address address(const char* text) {
  HostAddresses::Address a{};
  inet_pton(AF_INET, text, a.data());
  return a;
}

// The state of the flow that starts with `first`, as the table keeps it.
sniffer_flow_state state_of(const Packet& first) {
  return FlowState(first, 1, flow_params(FlowTableConfig{})).state();
}

TEST(FlowDirection, FromTheSensorToTheSensorInboundOutboundAndInternal) {
  HostAddresses host;
  host.add_local(4, address("192.0.2.10"));
  host.add_lan_subnet(4, address("10.0.0.0"), 8);
  const Packet to_server = packet(0, true, 10);  // 198.51.100.10 -> 192.0.2.10, on the WAN
  EXPECT_EQ(host.classify(state_of(to_server)), v1::FLOW_DIRECTION_TO_SENSOR);
  EXPECT_EQ(host.classify(state_of(packet(0, false, 10))), v1::FLOW_DIRECTION_FROM_SENSOR);

  HostAddresses other;  // the server is not the sensor
  other.add_lan_subnet(4, address("10.0.0.0"), 8);
  EXPECT_EQ(other.classify(state_of(to_server)), v1::FLOW_DIRECTION_INBOUND);
  Packet from_lan = to_server;
  from_lan.record.is_wan_facing = 0;
  EXPECT_EQ(other.classify(state_of(from_lan)), v1::FLOW_DIRECTION_OUTBOUND);
  inet_pton(AF_INET, "10.1.2.3", from_lan.record.daddr);
  EXPECT_EQ(other.classify(state_of(from_lan)), v1::FLOW_DIRECTION_INTERNAL);
}

TEST(FlowDirection, AFlowThatStartsWithASynAckIsClassifiedFromItsReceiver) {
  // The server's SYN+ACK comes first: the client is the originator, so a
  // flow to the sensor's server reads "to_sensor", in both aggregation modes.
  HostAddresses host;
  host.add_local(4, address("192.0.2.10"));
  const sniffer_flow_state s = state_of(tcp(0, false, SYN | ACK));
  EXPECT_EQ(host.classify(s), v1::FLOW_DIRECTION_TO_SENSOR);
  EXPECT_EQ(host.classify(FlowState(s).state()), v1::FLOW_DIRECTION_TO_SENSOR);  // a kernel flow record's state
}

}  // namespace
}  // namespace sniffer::test
