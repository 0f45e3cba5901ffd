// The ABI header's layout as C++ sees it (the BPF compiler checks the same
// static asserts when it builds bpf/sniffer.bpf.c).
#include <gtest/gtest.h>

#include <set>

#include "sniffer/abi.h"

TEST(Abi, RecordLayoutIsFixed) {
  EXPECT_EQ(sizeof(sniffer_record), 112u);
  EXPECT_EQ(sizeof(sniffer_record) % 8, 0u);  // ring samples stay 8-byte aligned
  EXPECT_EQ(sizeof(sniffer_iface_config), 8u);
  EXPECT_EQ(sizeof(sniffer_filter_settings), 4u);
  EXPECT_EQ(sizeof(sniffer_block_entry), 24u);
  EXPECT_EQ(sizeof(sniffer_block_settings), 4u);
  EXPECT_EQ(offsetof(sniffer_record, saddr) % 4, 0u);
}

TEST(Abi, CounterIndicesAreDistinctAndInRange) {
  std::set<int> seen;
  for (int h = 0; h < SNIFFER_NUM_HOOKS; ++h) {
    for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
      EXPECT_TRUE(seen.insert(SNIFFER_STAT_PACKETS(h, c)).second);
      EXPECT_TRUE(seen.insert(SNIFFER_STAT_BYTES(h, c)).second);
    }
  }
  for (int idx : {SNIFFER_STAT_RECORDS, SNIFFER_STAT_RINGBUF_FULL, SNIFFER_STAT_PARSE_ERROR, SNIFFER_STAT_FILTERED,
                  SNIFFER_STAT_UNCONFIGURED, SNIFFER_STAT_RING_FILL, SNIFFER_STAT_BLOCKED, SNIFFER_STAT_BLOCK_MONITORED,
                  SNIFFER_STAT_BLOCKED_UNRECORDED, SNIFFER_STAT_ALLOWED}) {
    EXPECT_TRUE(seen.insert(idx).second) << idx;
  }
  for (int idx : seen) EXPECT_LT(idx, SNIFFER_NUM_STATS);
}

TEST(Abi, MapNamesFitTheKernelLimit) {
  for (const char* name : {SNIFFER_MAP_IFACE_CONFIGS, SNIFFER_MAP_FILTER_SETTINGS, SNIFFER_MAP_PORT_FILTERS,
                           SNIFFER_MAP_EVENTS, SNIFFER_MAP_STATS, SNIFFER_MAP_BLOCK_SETTINGS, SNIFFER_MAP_BLOCK_SRC_V4,
                           SNIFFER_MAP_BLOCK_SRC_V6, SNIFFER_MAP_BLOCK_DST_V4, SNIFFER_MAP_BLOCK_DST_V6,
                           SNIFFER_MAP_ALLOW_V4, SNIFFER_MAP_ALLOW_V6}) {
    EXPECT_LE(std::string(name).size(), 15u) << name;
  }
}
