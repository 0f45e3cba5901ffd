// RecordProcessor::process_group (the live reader's groups of up to kGroup
// records) gives what process() one by one gives: the same flow records
// byte for byte, the same event batch, the same counters, with flows started,
// ended (FIN, RST, a new SYN) and evicted by a record of the same group as
// the records after it, records of no flow (not IP) and TC-egress copies.
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "flow_packets.hpp"
#include "sniffer/event_wire.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/record_processor.hpp"

namespace sniffer::test {
namespace {

// random_packets (flow_packets.hpp), some made not IP, some seen at TC
// egress (forwarded: no flow).
std::vector<Packet> mixed_packets(std::size_t n, std::uint16_t flows, std::uint32_t seed) {
  std::vector<Packet> v = random_packets(n, flows, seed);
  std::mt19937 rng(seed + 1);
  for (Packet& p : v) {
    if (rng() % 23 == 0) p.record.ip_version = 0;                 // not IP: an event, no flow
    if (rng() % 19 == 0) p.record.hook = SNIFFER_HOOK_TC_EGRESS;  // a forwarded copy
  }
  return v;
}

// A processor with its own table and event stream (one batch, read at the
// end), on its own ZeroMQ context.
struct Side {
  zmq::context_t ctx{1};
  std::vector<std::string> flows;
  PublishConfig config;
  PublishSocket socket;
  EventStream events;
  zmq::socket_t sub;
  FlowTable table;
  RecordProcessor processor;

  Side(const std::string& endpoint, const FlowTableConfig& table_config,
       const InterfaceTable& interfaces, const HostAddresses& host)
      : config{.endpoint = endpoint, .batch_max_events = 1u << 20, .batch_max_latency_ms = 600000},
        socket(ctx, config),
        events(socket, kTopicPackets, config, "s", 1),
        sub(ctx, zmq::socket_type::sub),
        table(table_config,
              [this](const FlowState& f, v1::FlowEndReason reason, bool update) {
                v1::FlowRecord r;
                f.to_proto(r, reason, update);
                flows.push_back(r.SerializeAsString());
              }),
        processor(interfaces, host, &events, &table) {
    sub.set(zmq::sockopt::subscribe, "");
    sub.set(zmq::sockopt::rcvtimeo, 2000);
    sub.connect(endpoint);
    for (int i = 0; i < 2000 && !socket.has_subscriber(kTopicPackets); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::string batch() {
    events.flush();
    zmq::message_t topic, body;
    EXPECT_TRUE(sub.recv(topic));
    EXPECT_TRUE(sub.recv(body));
    return body.to_string();
  }
};

TEST(RecordGroup, GroupsGiveTheFlowsEventsAndCountsOfOneByOne) {
  FlowTableConfig config;
  config.max_flows = 8;  // 24 ports: a group evicts flows its later records meet again
  InterfaceTable interfaces;
  interfaces.emplace(3, InterfaceInfo{.name = "wan0"});
  const HostAddresses host;
  Side one("inproc://group-one", config, interfaces, host);
  Side grouped("inproc://group-grouped", config, interfaces, host);

  const std::vector<Packet> packets = mixed_packets(6000, 24, 7);
  std::vector<DecodedRecord> records;
  for (const Packet& p : packets) records.push_back(DecodedRecord{p.record, {}});
  for (std::size_t i = 0; i < packets.size(); ++i) one.processor.process(records[i], packets[i].ts, 0);

  std::mt19937 rng(11);
  for (std::size_t i = 0; i < packets.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % RecordProcessor::kGroup, packets.size() - i);
    const DecodedRecord* group[RecordProcessor::kGroup];
    std::uint64_t ts[RecordProcessor::kGroup];
    for (std::size_t k = 0; k < n; ++k) {
      group[k] = &records[i + k];
      ts[k] = packets[i + k].ts;
    }
    grouped.processor.process_group(group, ts, n, 0);
    i += n;
  }

  EXPECT_GT(one.table.counters().evicted, 100u);
  EXPECT_GT(one.processor.counters().not_ip, 100u);
  EXPECT_GT(one.processor.counters().egress_forwarded, 100u);
  EXPECT_EQ(grouped.flows, one.flows);
  EXPECT_EQ(grouped.batch(), one.batch());
  for (auto field : {&ProcessorCounters::records, &ProcessorCounters::not_ip, &ProcessorCounters::egress_forwarded,
                     &ProcessorCounters::unknown_ifindex}) {
    EXPECT_EQ(grouped.processor.counters().*field, one.processor.counters().*field);
  }
  for (auto field : {&FlowTableCounters::packets, &FlowTableCounters::created, &FlowTableCounters::ended,
                     &FlowTableCounters::evicted, &FlowTableCounters::updates}) {
    EXPECT_EQ(grouped.table.counters().*field, one.table.counters().*field);
  }
  EXPECT_EQ(grouped.table.size(), one.table.size());
}

}  // namespace
}  // namespace sniffer::test
