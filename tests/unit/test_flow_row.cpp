// The CSV row written from a FlowRow (FlowOutput's path for a flow going to
// the CSV only) is byte for byte the row of the FlowRecord to_proto fills;
// the Community ID written into a buffer is the one a flow keeps; and integer
// cells of every size are std::to_chars's text.
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "flow_csv_cells.hpp"
#include "sniffer/flow_output.hpp"
#include "sniffer/flow_state.hpp"

namespace sniffer::test {
namespace {

std::string row_of(const FlowRow& row) {
  std::string out(flow_csv_row_bound(row), '\0');
  out.resize(static_cast<std::size_t>(write_flow_csv_row(out.data(), row) - out.data()));
  return out;
}

// Random states (every byte random, then the few fields with a meaning
// constrained: the address family, the history's length, the protocol): the
// two paths give the same row.
TEST(FlowRow, RowEqualsTheFlowRecordRow) {
  std::mt19937_64 rng(10);
  const std::string id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", interface = "eth,0";
  const std::uint8_t protocols[] = {6, 17, 1, 58, 47};
  for (int i = 0; i < 20000; ++i) {
    sniffer_flow_state s;
    auto* bytes = reinterpret_cast<std::uint8_t*>(&s);
    for (std::size_t k = 0; k < sizeof s; ++k) bytes[k] = static_cast<std::uint8_t>(rng());
    if (i % 2) {  // small values as a short flow has them: the integer and zero paths
      for (std::size_t k = 0; k < sizeof s; ++k) bytes[k] &= (k % 8 == 0) ? 0x0f : 0;
    }
    s.key.ip_version = i % 3 ? 4 : 6;
    s.key.l4_proto = protocols[i % 5];
    s.history_len = static_cast<std::uint8_t>(rng() % (sizeof s.history + 2));
    s.fwd_is_a_to_b = static_cast<std::uint8_t>(rng() % 2);
    const FlowState flow(s);
    const auto reason = static_cast<v1::FlowEndReason>(rng() % 10);
    const bool update = i % 7 == 0;
    const auto direction = static_cast<v1::FlowDirection>(rng() % 6);
    v1::FlowRecord record;
    flow.to_proto(record, reason, update, 12345);
    record.set_direction(direction);
    record.set_community_id(id);
    FlowRow row;
    flow.to_row(row, reason, update, 12345);
    row.set_direction(direction);
    row.set_community_id(id);
    if (i % 4 == 0) {
      record.set_interface(interface);
      row.set_interface(interface);
    }
    ASSERT_EQ(row_of(row), flow_csv_row(record)) << i;
    // The ID written into a buffer (not kept) is the kept one.
    char buf[kCommunityIdLength];
    const auto seed = static_cast<std::uint16_t>(rng());
    const std::string written(flow.community_id(seed, buf));
    ASSERT_EQ(written, flow.community_id(seed)) << i;
    ASSERT_EQ(flow.community_id(seed, buf).data(), flow.community_id(seed).data()) << "the kept one, once kept";
  }
}

// 64-bit integers (the nanosecond times: 19 digits, written eight digits at a
// time) as std::to_chars writes them, at every size.
TEST(FlowRow, LargeIntegersAreToCharsText) {
  std::vector<std::uint64_t> values = {0, 9, 10, 99999999, 100000000, 100000001, 9999999999999999ull,
                                       10000000000000000ull, 1500000000123456789ull, 18446744073709551615ull};
  std::mt19937_64 rng(19);
  for (int i = 0; i < 20000; ++i) values.push_back(rng() >> (rng() % 64));
  for (std::uint64_t v : values) {
    v1::FlowRecord r;
    r.set_start_ns(v);
    char buf[32];
    const char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
    ASSERT_EQ(cells_of(r)["start_ns"], std::string(buf, static_cast<std::size_t>(end - buf))) << v;
  }
}

// FlowOutput's CSV path holds a flow's Community ID back and hashes it with
// the next flow's (two at once), the held one last at finish(): every row has
// its own flow's ID, for odd and even counts of flows, with flows whose ID is
// kept already among them, and enough rows for the file's buffer to flush.
TEST(FlowRow, FlowOutputRowsHaveEachTheirOwnCommunityId) {
  std::mt19937_64 rng(15);
  const InterfaceTable interfaces;
  const HostAddresses host;
  const std::uint8_t protocols[] = {6, 17, 1, 58, 47};
  for (int flows : {0, 1, 2, 3, 8, 6001}) {
    const std::string path = testing::TempDir() + "flow_output_" + std::to_string(flows) + ".csv";
    const auto seed = static_cast<std::uint16_t>(rng());
    std::string expected = flow_csv_header();
    {
      OutputFile csv(path, "--write-csv");
      csv.write(flow_csv_header());
      FlowOutput output(interfaces, host, nullptr, &csv, seed);
      for (int i = 0; i < flows; ++i) {
        sniffer_flow_state s{};
        s.key.ip_version = i % 3 ? 4 : 6;
        s.key.l4_proto = protocols[rng() % 5];
        for (std::uint8_t& b : s.key.addr_a) b = static_cast<std::uint8_t>(rng());
        for (std::uint8_t& b : s.key.addr_b) b = static_cast<std::uint8_t>(rng());
        s.key.port_a = static_cast<std::uint16_t>(rng());
        s.key.port_b = static_cast<std::uint16_t>(rng());
        s.fwd_is_a_to_b = static_cast<std::uint8_t>(rng() % 2);
        s.fwd.payload.count = 1 + rng() % 100;
        s.fwd.bytes = rng() % 100000;
        const FlowState flow(s);
        if (i % 3 == 1) flow.community_id(seed);  // kept already (often after a held one: room() may flush it)
        output(flow, v1::FLOW_END_IDLE_TIMEOUT, false);
        v1::FlowRecord record;
        flow.to_proto(record, v1::FLOW_END_IDLE_TIMEOUT, false, 0);
        record.set_direction(static_cast<v1::FlowDirection>(host.classify(flow.state())));
        record.set_community_id(flow.community_id(seed));
        expected += flow_csv_row(record);
      }
      output.finish();
      csv.commit();
    }
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), expected) << flows << " flows";
  }
}

}  // namespace
}  // namespace sniffer::test
