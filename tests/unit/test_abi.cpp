// The ABI header's layout as C++ sees it (the BPF compiler checks the same
// static asserts when it builds bpf/sniffer.bpf.c).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sniffer/abi.h"
#include "sniffer/counters.hpp"

namespace sniffer {
namespace {

TEST(Abi, RecordLayoutIsFixed) {
  EXPECT_EQ(sizeof(sniffer_record), 112u);
  EXPECT_EQ(sizeof(sniffer_record) % 8, 0u);  // ring samples stay 8-byte aligned
  EXPECT_EQ(sizeof(sniffer_iface_config), 8u);
  EXPECT_EQ(sizeof(sniffer_filter_settings), 8u + 8192u);
  EXPECT_EQ(sizeof(sniffer_block_entry), 24u);
  EXPECT_EQ(sizeof(sniffer_block_settings), 4u);
  EXPECT_EQ(offsetof(sniffer_record, saddr) % 4, 0u);
}

// Every index of a block is exactly one counter: a packets/bytes one or a row
// of SNIFFER_STATS.
TEST(Abi, CounterIndicesCoverTheBlockOnce) {
  std::set<int> seen;
  for (int h = 0; h < SNIFFER_NUM_HOOKS; ++h) {
    for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
      EXPECT_TRUE(seen.insert(SNIFFER_STAT_PACKETS(h, c)).second);
      EXPECT_TRUE(seen.insert(SNIFFER_STAT_BYTES(h, c)).second);
    }
  }
  for (const KernelCounterDef& def : kKernelCounters) EXPECT_TRUE(seen.insert(def.index).second) << def.key;
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(SNIFFER_NUM_STATS));
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), SNIFFER_NUM_STATS - 1);
}

// The indices are ABI: the programs built before this list count at these.
TEST(Abi, CounterIndicesKeepTheirValues) {
  EXPECT_EQ(SNIFFER_STAT_FIRST_NAMED, 24);
  EXPECT_EQ(SNIFFER_STAT_RECORDS, 24);
  EXPECT_EQ(SNIFFER_STAT_RINGBUF_FULL, 25);
  EXPECT_EQ(SNIFFER_STAT_PARSE_ERROR, 26);
  EXPECT_EQ(SNIFFER_STAT_FILTERED, 27);
  EXPECT_EQ(SNIFFER_STAT_UNCONFIGURED, 28);
  EXPECT_EQ(SNIFFER_STAT_RING_FILL, 29);
  EXPECT_EQ(SNIFFER_STAT_BLOCKED, 30);
  EXPECT_EQ(SNIFFER_STAT_BLOCK_MONITORED, 31);
  EXPECT_EQ(SNIFFER_STAT_BLOCKED_UNRECORDED, 32);
  EXPECT_EQ(SNIFFER_STAT_ALLOWED, 33);
  EXPECT_EQ(SNIFFER_STAT_SAMPLED_OUT, 34);
  EXPECT_EQ(SNIFFER_STAT_FLOW_PACKETS, 35);
  EXPECT_EQ(SNIFFER_STAT_FLOW_SKIPPED, 36);
  EXPECT_EQ(SNIFFER_STAT_FLOW_RECORDS, 37);
  EXPECT_EQ(SNIFFER_STAT_FLOW_RING_FULL, 38);
  EXPECT_EQ(SNIFFER_STAT_FLOW_MAP_FULL, 39);
  EXPECT_EQ(SNIFFER_STAT_SPLIT_L4_FRAGMENT, 40);
  EXPECT_EQ(SNIFFER_NUM_STATS, 41);
  EXPECT_EQ(SNIFFER_STAT_INDEX(2, SNIFFER_STAT_RECORDS), 2 * 41 + 24);
}

// Each row has a distinct report key, a family, labels the metrics can read
// ("name=value" or "interface") and a description.
TEST(Abi, CounterRowsAreComplete) {
  std::set<std::string_view> keys;
  for (const KernelCounterDef& def : kKernelCounters) {
    EXPECT_TRUE(keys.insert(def.key).second) << def.key;
    EXPECT_FALSE(def.key.empty());
    EXPECT_TRUE(def.family.starts_with("sniffer_")) << def.key;
    EXPECT_FALSE(def.help.empty()) << def.key;
    std::string_view labels = def.labels;
    while (!labels.empty()) {
      std::string_view item = labels.substr(0, labels.find(','));
      EXPECT_TRUE(item == "interface" || (item.find('=') != std::string_view::npos && item.front() != '='))
          << def.key << ": " << item;
      labels.remove_prefix(std::min(labels.size(), item.size() + 1));
    }
  }
  EXPECT_FALSE(keys.contains("packets"));  // the packets/bytes matrix's keys
  EXPECT_FALSE(keys.contains("bytes"));
}

TEST(Abi, MapNamesFitTheKernelLimit) {
  for (const char* name : {SNIFFER_MAP_IFACE_CONFIGS, SNIFFER_MAP_FILTER_SETTINGS, SNIFFER_MAP_PORT_FILTERS,
                           SNIFFER_MAP_EVENTS, SNIFFER_MAP_STATS, SNIFFER_MAP_BLOCK_SETTINGS, SNIFFER_MAP_BLOCK_SRC_V4,
                           SNIFFER_MAP_BLOCK_SRC_V6, SNIFFER_MAP_BLOCK_DST_V4, SNIFFER_MAP_BLOCK_DST_V6,
                           SNIFFER_MAP_ALLOW_V4, SNIFFER_MAP_ALLOW_V6, SNIFFER_MAP_FLOWS, SNIFFER_MAP_LOCAL_ADDRS}) {
    EXPECT_LE(std::string(name).size(), 15u) << name;
  }
}

}  // namespace
}  // namespace sniffer
