// FlowRecord -> CSV, the format: the header (CIC-IDS2017 column names, then
// sniffer's own), zeros instead of NaN or infinity, quoting, timestamps.
#include <charconv>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flow_csv_cells.hpp"

namespace sniffer::test {
namespace {

TEST(FlowCsv, HeaderHasTheCicNamesThenOurOwn) {
  std::vector<std::string> expected = kCicColumns;
  expected.insert(expected.end(), kOwnColumns.begin(), kOwnColumns.end());
  const std::string header = flow_csv_header();
  EXPECT_EQ(parse_csv_line(header), expected);
  EXPECT_EQ(kCicColumns.size(), 83u);  // CIC-IDS2017's 84 features minus its duplicated "Fwd Header Length"
  EXPECT_EQ(expected.size(), 102u);
  EXPECT_EQ(header.find(", "), std::string::npos) << "no stray leading spaces";
  EXPECT_EQ(std::set<std::string>(expected.begin(), expected.end()).size(), expected.size()) << "unique names";
}

TEST(FlowCsv, RowAndHeaderHaveTheSameColumnCount) {
  const auto header = parse_csv_line(flow_csv_header());
  EXPECT_EQ(parse_csv_line(flow_csv_row(tcp_record())).size(), header.size());
  EXPECT_EQ(parse_csv_line(flow_csv_row(v1::FlowRecord())).size(), header.size());
}

// One UDP packet: zero duration, no inter-arrival time, nothing backward.
TEST(FlowCsv, SinglePacketFlowHasZerosNotNaN) {
  v1::FlowRecord r;
  r.set_start_ns(1'000'000'000ull);
  r.set_end_ns(1'000'000'000ull);
  r.set_ip_version(6);
  r.set_src_addr(addr6("2001:db8::1"));
  r.set_dst_addr(addr6("2001:db8::2"));
  r.set_src_port(5353);
  r.set_dst_port(53);
  r.set_l4_protocol(17);
  r.mutable_fwd()->set_packets(1);
  r.mutable_fwd()->set_bytes(90);
  r.mutable_fwd()->set_payload_bytes(28);
  r.mutable_fwd()->set_header_bytes(48);
  r.mutable_fwd()->set_init_window(-1);
  r.mutable_bwd()->set_init_window(-1);
  set_stats(r.mutable_fwd()->mutable_payload_length(), 1, 28, 28, 28, 0, 28);
  set_stats(r.mutable_payload_length(), 1, 28, 28, 28, 0, 28);
  r.set_subflow_count(1);
  const std::string row = flow_csv_row(r);
  expect_no_nan_or_inf(row);
  auto c = cells_of(r);
  EXPECT_EQ(c["Flow ID"], "2001:db8::1-2001:db8::2-5353-53-17");
  EXPECT_EQ(c["Timestamp"], "1970-01-01T00:00:01.000000Z");
  EXPECT_EQ(c["Flow Duration"], "0");
  EXPECT_EQ(c["Flow Bytes/s"], "0");
  EXPECT_EQ(c["Flow Packets/s"], "0");
  EXPECT_EQ(c["Flow IAT Mean"], "0");
  EXPECT_EQ(c["Total Backward Packets"], "0");
  EXPECT_EQ(c["Down/Up Ratio"], "0");
  EXPECT_EQ(c["Average Packet Size"], "28");
  EXPECT_EQ(c["Packet Length Variance"], "0");
  EXPECT_EQ(c["Init_Win_bytes_forward"], "-1");  // no TCP header seen
  EXPECT_EQ(c["Init_Win_bytes_backward"], "-1");
  EXPECT_EQ(c["Subflow Fwd Packets"], "1");
  EXPECT_EQ(c["ip_version"], "6");
}

TEST(FlowCsv, EmptyRecordIsAllZeros) {
  v1::FlowRecord r;
  const std::string row = flow_csv_row(r);
  expect_no_nan_or_inf(row);
  auto c = cells_of(r);
  EXPECT_EQ(c["Average Packet Size"], "0");  // 0 packets
  EXPECT_EQ(c["Subflow Fwd Packets"], "0");  // 0 subflows
  EXPECT_EQ(c["Fwd Avg Bulk Rate"], "0");
  EXPECT_EQ(c["Timestamp"], "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(c["Flow ID"], "--0-0-0");
}

TEST(FlowCsv, NonFiniteInputsBecomeZero) {
  v1::FlowRecord r = tcp_record();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  r.set_bytes_per_second(nan);
  r.set_packets_per_second(inf);
  r.set_down_up_ratio(-inf);
  r.set_duration_us(-0.0);
  r.mutable_iat_us()->set_std(nan);
  r.mutable_payload_length()->set_std(inf);        // variance = inf * inf
  r.mutable_bwd()->set_bulk_duration_us(1e-320);  // rate overflows to inf
  r.mutable_bwd()->set_bulk_bytes(1000000);
  const std::string row = flow_csv_row(r);
  expect_no_nan_or_inf(row);
  auto c = cells_of(r);
  EXPECT_EQ(c["Flow Bytes/s"], "0");
  EXPECT_EQ(c["Flow Packets/s"], "0");
  EXPECT_EQ(c["Down/Up Ratio"], "0");
  EXPECT_EQ(c["Flow Duration"], "0");
  EXPECT_EQ(c["Flow IAT Std"], "0");
  EXPECT_EQ(c["Packet Length Variance"], "0");
  EXPECT_EQ(c["Bwd Avg Bulk Rate"], "0");
}

// A number cell is std::to_chars's shortest text (whole numbers take a faster
// path, which must write the very same text: fixed, or scientific when shorter).
TEST(FlowCsv, NumbersAreTheShortestTextThatReadsBack) {
  std::vector<double> values = {1, 9, 10, 99, 100, 1000, 12000, 120000, 1000000, 1200000, 12300000, 100000000,
                                123456789, 1e15, 1.5e15, 9007199254740991.0, 9007199254740992.0, 1e16, 1e17,
                                0.5, 1.25, 1e-7, 123.456, 1e300, -1, -1000000, -123.5, 4503599627370495.5};
  std::uint64_t x = 88172645463325252ull;  // xorshift: whole numbers of every size, and fractions
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int shift = static_cast<int>(x % 60);
    values.push_back(static_cast<double>((x >> 4) >> shift));
    values.push_back(static_cast<double>((x >> 4) >> shift) * 1000);
    values.push_back(static_cast<double>(x >> shift) / 1024);
  }
  for (double v : values) {
    if (v == 0) continue;
    v1::FlowRecord r;
    r.set_duration_us(v);
    char buf[32];
    const char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
    ASSERT_EQ(cells_of(r)["Flow Duration"], std::string(buf, static_cast<std::size_t>(end - buf))) << v;
  }
}

// Fractions are formatted through a small cache of recent values: the same
// value in several cells of a row and across rows, values that share a cache
// entry, of every length: each cell still to_chars's text of its own value.
TEST(FlowCsv, RepeatedFractionsAreEachCellsOwnText) {
  std::vector<double> pool;
  for (int i = 1; i <= 40; ++i) pool.push_back(1.0 / (i * 3 + 0.5) * (i % 2 ? 1e-3 : 1e9) + (i % 5) * 0.25);
  std::uint64_t x = 0x2545f4914f6cdd1dull;
  auto pick = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return pool[x % pool.size()];
  };
  auto text = [](double v) {
    char buf[32];
    return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
  };
  for (int row = 0; row < 2000; ++row) {
    v1::FlowRecord r;
    const double a = pick(), b = pick(), c = pick(), d = pick();
    r.mutable_iat_us()->set_mean(a);
    r.mutable_iat_us()->set_std(b);
    r.mutable_fwd()->mutable_iat_us()->set_mean(c);
    r.mutable_fwd()->mutable_iat_us()->set_std(a);
    r.mutable_bwd()->mutable_iat_us()->set_mean(d);
    r.mutable_bwd()->mutable_iat_us()->set_std(c);
    auto cells = cells_of(r);
    ASSERT_EQ(cells["Flow IAT Mean"], text(a)) << row;
    ASSERT_EQ(cells["Flow IAT Std"], text(b)) << row;
    ASSERT_EQ(cells["Fwd IAT Mean"], text(c)) << row;
    ASSERT_EQ(cells["Fwd IAT Std"], text(a)) << row;
    ASSERT_EQ(cells["Bwd IAT Mean"], text(d)) << row;
    ASSERT_EQ(cells["Bwd IAT Std"], text(c)) << row;
  }
}

// Large numbers keep the text of their digits above the last eight for the
// last two values: start_ns and end_ns of rows in time order, sharing them or
// not, alternating, growing in length.
TEST(FlowCsv, NanosecondTimesOfConsecutiveRows) {
  const std::uint64_t t = 1'499'936'400'123'456'789ull;
  const std::pair<std::uint64_t, std::uint64_t> rows[] = {
      {t, t + 5},
      {t + 7, t + 300'000'000},
      {t + 9, t + 300'000'001},
      {t + 100'000'000, t + 100'000'001},
      {t, t + 99'999'999},
      {100'000'000, 999'999'999},
      {1'000'000'000'000'000'000ull, 18'446'744'073'709'551'615ull},
      {t, 18'446'744'073'709'551'615ull},
      {t + 1, t + 2}};
  for (const auto& [start, end] : rows) {
    v1::FlowRecord r;
    r.set_start_ns(start);
    r.set_end_ns(end);
    auto cells = cells_of(r);
    EXPECT_EQ(cells["start_ns"], std::to_string(start));
    EXPECT_EQ(cells["end_ns"], std::to_string(end));
  }
}

TEST(FlowCsv, BulkRateIsZeroWithoutBulkTime) {
  v1::FlowRecord r;
  r.mutable_fwd()->set_bulk_count(1);
  r.mutable_fwd()->set_bulk_packets(4);
  r.mutable_fwd()->set_bulk_bytes(400);
  r.mutable_fwd()->set_bulk_duration_us(0);  // 4 packets with one timestamp
  auto c = cells_of(r);
  EXPECT_EQ(c["Fwd Avg Bytes/Bulk"], "400");
  EXPECT_EQ(c["Fwd Avg Packets/Bulk"], "4");
  EXPECT_EQ(c["Fwd Avg Bulk Rate"], "0");
}

TEST(FlowCsv, QuotesTextWithCommasQuotesAndLineBreaks) {
  v1::FlowRecord r = tcp_record();
  r.set_interface("we,ird\"if");
  r.set_history("a\nb");
  const std::string row = flow_csv_row(r);
  EXPECT_NE(row.find(",\"we,ird\"\"if\","), std::string::npos) << row;
  EXPECT_NE(row.find(",\"a\nb\","), std::string::npos) << row;
  auto c = cells_of(r);
  EXPECT_EQ(c["interface"], "we,ird\"if");
  EXPECT_EQ(c["history"], "a\nb");
  EXPECT_EQ(c["flow_id_num"], "42");  // the cells after the quoted ones stay in place
}

TEST(FlowCsv, PlainTextIsNotQuoted) {
  const std::string row = flow_csv_row(tcp_record());
  EXPECT_EQ(row.find('"'), std::string::npos) << row;
  EXPECT_EQ(row.find('\n'), row.size() - 1);
}

TEST(FlowCsv, TimestampTruncatesToMicroseconds) {
  v1::FlowRecord r;
  r.set_start_ns(1'700'000'000'999'999'999ull);
  EXPECT_EQ(cells_of(r)["Timestamp"], "2023-11-14T22:13:20.999999Z");
}

// The date and time of the last second are kept between rows: rows in the
// same second, the next, an earlier one, and the epoch's.
TEST(FlowCsv, TimestampsOfConsecutiveRows) {
  v1::FlowRecord r;
  const std::pair<std::uint64_t, const char*> cases[] = {
      {1'499'936'400'000'007'000ull, "2017-07-13T09:00:00.000007Z"},
      {1'499'936'400'120'450'999ull, "2017-07-13T09:00:00.120450Z"},
      {1'499'936'401'000'000'000ull, "2017-07-13T09:00:01.000000Z"},
      {1'499'936'399'999'999'999ull, "2017-07-13T08:59:59.999999Z"},
      {0, "1970-01-01T00:00:00.000000Z"},
      {18'446'744'073'709'551'615ull, "2554-07-21T23:34:33.709551Z"}};
  for (const auto& [ns, text] : cases) {
    r.set_start_ns(ns);
    EXPECT_EQ(cells_of(r)["Timestamp"], text) << ns;
  }
}

}  // namespace
}  // namespace sniffer::test
