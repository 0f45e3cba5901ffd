// The flow table's prefetch hint (fed by RingReader's peek a few records
// ahead) changes nothing a table exports: the same packets with and without
// hints, right ones, stale ones and keys of no flow, give the same records
// byte for byte and the same counters, through evictions, ends and slot reuse.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flow_packets.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/record_processor.hpp"

namespace sniffer::test {
namespace {

struct Exported {
  std::vector<std::string> records;
  FlowTable table;
  explicit Exported(const FlowTableConfig& config)
      : table(config, [this](const FlowState& f, v1::FlowEndReason reason, bool update) {
          v1::FlowRecord r;
          f.to_proto(r, reason, update);
          records.push_back(r.SerializeAsString());
        }) {}
};

TEST(FlowTablePrefetch, HintsChangeNoRecord) {
  FlowTableConfig config;
  config.max_flows = 256;  // 600 flows: evictions and reused slots
  config.idle_timeout_ns = 50 * kMs;
  const std::vector<Packet> packets = random_packets(20000, 600, 7);
  Exported plain(config), hinted(config);
  std::mt19937 rng(11);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    if (i + 5 < packets.size()) hinted.table.prefetch(FlowPacket(packets[i + 5]).key);
    if (i % 7 == 0) {
      FlowKey junk{};
      for (auto& byte : junk.addr_a) byte = static_cast<std::uint8_t>(rng());
      hinted.table.prefetch(junk);  // no such flow
    }
    plain.table.add(packets[i]);
    hinted.table.add(packets[i]);
    if (i % 1000 == 999) {
      plain.table.expire(packets[i].ts);
      hinted.table.expire(packets[i].ts);
    }
  }
  plain.table.flush(v1::FLOW_END_SHUTDOWN);
  hinted.table.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_GT(plain.table.counters().evicted, 0u);
  ASSERT_GT(plain.records.size(), 600u);
  EXPECT_EQ(plain.records, hinted.records);
  EXPECT_EQ(plain.table.counters().created, hinted.table.counters().created);
  EXPECT_EQ(plain.table.counters().ended, hinted.table.counters().ended);
}

TEST(FlowTablePrefetch, TheProcessorTakesAnySampleAndHintsOnlyLargeTables) {
  FlowTableConfig config;
  config.max_flows = FlowTable::kPrefetchFrom + 16;
  Exported exported(config);
  const InterfaceTable interfaces;
  const HostAddresses host;
  RecordProcessor processor(interfaces, host, nullptr, &exported.table);
  Packet p = packet(0, true, 10);
  p.record.magic = SNIFFER_RECORD_MAGIC;
  // Samples that are no packet record: too short, another magic, random bytes.
  std::vector<std::uint8_t> bytes(sizeof(sniffer_record), 0xa5);
  processor.prefetch(bytes.data(), 3);
  processor.prefetch(bytes.data(), bytes.size());
  EXPECT_FALSE(exported.table.prefetch_pays());
  for (std::uint32_t i = 0; i < FlowTable::kPrefetchFrom; ++i) {
    p.record.sport = static_cast<std::uint16_t>(i);
    p.record.saddr[3] = static_cast<std::uint8_t>(i >> 16);
    processor.prefetch(&p.record, sizeof p.record);
    processor.process(DecodedRecord{p.record, {}}, p.ts, 0);
  }
  EXPECT_TRUE(exported.table.prefetch_pays());
  std::memcpy(bytes.data(), &p.record.magic, sizeof p.record.magic);
  processor.prefetch(bytes.data(), bytes.size());  // a packet record's magic, garbage after it
  processor.prefetch(&p.record, sizeof p.record);
  EXPECT_EQ(exported.table.size(), FlowTable::kPrefetchFrom);
  EXPECT_EQ(exported.table.counters().packets, FlowTable::kPrefetchFrom);
  EXPECT_TRUE(exported.records.empty());
}

}  // namespace
}  // namespace sniffer::test
