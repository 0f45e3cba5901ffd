// FlowRecord -> CSV (CIC-IDS2017 column names, then sniffer's own columns):
// hand-built records, hand-computed cells.
#include <arpa/inet.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_csv.hpp"

namespace sniffer {
namespace {

// Splits one newline-terminated RFC 4180 line into cells (quoted cells may
// hold commas, doubled quotes and line breaks).
std::vector<std::string> parse_csv_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {  // the last character is the line's end
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back().push_back(c);
      }
    } else if (c == '"' && cells.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back().push_back(c);
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quote in: " << line;
  return cells;
}

// Column name -> cell of `record`.
std::map<std::string, std::string> cells_of(const v1::FlowRecord& record) {
  auto names = parse_csv_line(flow_csv_header());
  auto cells = parse_csv_line(flow_csv_row(record));
  EXPECT_EQ(names.size(), cells.size());
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < names.size() && i < cells.size(); ++i) out[names[i]] = cells[i];
  return out;
}

double number(const std::map<std::string, std::string>& cells, const std::string& name) {
  auto it = cells.find(name);
  EXPECT_NE(it, cells.end()) << "no column " << name;
  if (it == cells.end()) return std::nan("");
  std::size_t used = 0;
  double v = std::stod(it->second, &used);
  EXPECT_EQ(used, it->second.size()) << name << " = " << it->second;
  return v;
}

std::string addr4(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

std::string addr6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 16);
}

void set_stats(v1::Stats* s, std::uint64_t count, double min, double max, double mean, double std, double total) {
  s->set_count(count);
  s->set_min(min);
  s->set_max(max);
  s->set_mean(mean);
  s->set_std(std);
  s->set_total(total);
}

// An HTTP-like TCP connection, 11 packets over 10 ms (times in us from the start):
//   0 fwd SYN (0)        1000 bwd SYN-ACK (0)   2000 fwd ACK (0)   3000 fwd PSH-ACK (100)
//   4000, 5000, 6000 bwd ACK (1000 each)        7000 bwd PSH-ACK (1000)
//   8000 fwd FIN-ACK (0) 9000 bwd FIN-ACK (0)   10000 fwd ACK (0)
// Payload lengths in parentheses. The 4 backward data packets form one bulk.
v1::FlowRecord tcp_record() {
  v1::FlowRecord r;
  r.set_flow_id(42);
  r.set_start_ns(1'499'245'200'123'456'789ull);  // 2017-07-05T09:00:00.123456789Z
  r.set_end_ns(1'499'245'200'133'456'789ull);
  r.set_duration_us(10000);
  r.set_ip_version(4);
  r.set_src_addr(addr4("192.0.2.10"));
  r.set_dst_addr(addr4("198.51.100.10"));
  r.set_src_port(40000);
  r.set_dst_port(80);
  r.set_l4_protocol(6);
  r.set_vlan_id(0);
  r.set_interface("eth1");
  r.set_ifindex(3);
  r.set_role(v1::ROLE_WAN);
  r.set_mode(v1::MODE_GATEWAY);
  r.set_is_wan_facing(true);
  r.set_direction(v1::FLOW_DIRECTION_INBOUND);

  auto* f = r.mutable_fwd();
  f->set_packets(5);
  f->set_bytes(5 * 54 + 20 + 100);   // frames incl. Ethernet; the SYN carries 20 option bytes
  f->set_payload_bytes(100);
  f->set_header_bytes(5 * 40 + 20);  // IPv4 20 + TCP 20 each, SYN options 20
  set_stats(f->mutable_payload_length(), 5, 0, 100, 20, std::sqrt(2000.0), 100);  // 0,0,100,0,0
  set_stats(f->mutable_iat_us(), 4, 1000, 5000, 2500, std::sqrt(3000000.0), 10000);  // 2000,1000,5000,2000
  f->set_psh_count(1);
  f->set_urg_count(0);
  f->set_init_window(64240);
  f->set_data_packets(1);
  f->set_min_header_bytes(40);
  f->set_packets_per_second(500);

  auto* b = r.mutable_bwd();
  b->set_packets(6);
  b->set_bytes(6 * 54 + 20 + 4000);
  b->set_payload_bytes(4000);
  b->set_header_bytes(6 * 40 + 20);
  set_stats(b->mutable_payload_length(), 6, 0, 1000, 4000.0 / 6, 516.3977794943222, 4000);
  set_stats(b->mutable_iat_us(), 5, 1000, 3000, 1600, std::sqrt(800000.0), 8000);  // 3000,1000,1000,1000,2000
  b->set_psh_count(1);
  b->set_init_window(65160);
  b->set_data_packets(4);
  b->set_min_header_bytes(40);
  b->set_bulk_count(1);
  b->set_bulk_packets(4);
  b->set_bulk_bytes(4000);
  b->set_bulk_duration_us(3000);
  b->set_packets_per_second(600);

  set_stats(r.mutable_payload_length(), 11, 0, 1000, 4100.0 / 11, 2.5, 4100);  // std chosen for an exact variance
  set_stats(r.mutable_iat_us(), 10, 1000, 1000, 1000, 0, 10000);
  r.set_fin_count(2);
  r.set_syn_count(2);
  r.set_rst_count(0);
  r.set_psh_count(2);
  r.set_ack_count(10);
  r.set_urg_count(0);
  r.set_cwr_count(0);
  r.set_ece_count(0);
  set_stats(r.mutable_active_us(), 1, 10000, 10000, 10000, 0, 10000);
  r.set_subflow_count(1);
  r.set_bytes_per_second(410000);  // 4100 payload bytes / 0.01 s
  r.set_packets_per_second(1100);
  r.set_down_up_ratio(1.2);
  r.set_conn_state("SF");
  r.set_history("ShADadFf");
  r.set_end_reason(v1::FLOW_END_FIN);
  return r;
}

const std::vector<std::string> kCicColumns = {
    "Flow ID", "Source IP", "Source Port", "Destination IP", "Destination Port", "Protocol", "Timestamp",
    "Flow Duration", "Total Fwd Packets", "Total Backward Packets", "Total Length of Fwd Packets",
    "Total Length of Bwd Packets", "Fwd Packet Length Max", "Fwd Packet Length Min", "Fwd Packet Length Mean",
    "Fwd Packet Length Std", "Bwd Packet Length Max", "Bwd Packet Length Min", "Bwd Packet Length Mean",
    "Bwd Packet Length Std", "Flow Bytes/s", "Flow Packets/s", "Flow IAT Mean", "Flow IAT Std", "Flow IAT Max",
    "Flow IAT Min", "Fwd IAT Total", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max", "Fwd IAT Min", "Bwd IAT Total",
    "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max", "Bwd IAT Min", "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags",
    "Bwd URG Flags", "Fwd Header Length", "Bwd Header Length", "Fwd Packets/s", "Bwd Packets/s",
    "Min Packet Length", "Max Packet Length", "Packet Length Mean", "Packet Length Std", "Packet Length Variance",
    "FIN Flag Count", "SYN Flag Count", "RST Flag Count", "PSH Flag Count", "ACK Flag Count", "URG Flag Count",
    "CWE Flag Count", "ECE Flag Count", "Down/Up Ratio", "Average Packet Size", "Avg Fwd Segment Size",
    "Avg Bwd Segment Size", "Fwd Avg Bytes/Bulk", "Fwd Avg Packets/Bulk", "Fwd Avg Bulk Rate",
    "Bwd Avg Bytes/Bulk", "Bwd Avg Packets/Bulk", "Bwd Avg Bulk Rate", "Subflow Fwd Packets", "Subflow Fwd Bytes",
    "Subflow Bwd Packets", "Subflow Bwd Bytes", "Init_Win_bytes_forward", "Init_Win_bytes_backward",
    "act_data_pkt_fwd", "min_seg_size_forward", "Active Mean", "Active Std", "Active Max", "Active Min",
    "Idle Mean", "Idle Std", "Idle Max", "Idle Min"};

const std::vector<std::string> kOwnColumns = {
    "fwd_frame_bytes", "bwd_frame_bytes", "start_ns", "end_ns", "ip_version", "vlan_id", "interface", "ifindex",
    "role", "mode", "is_wan_facing", "direction", "conn_state", "history", "end_reason", "is_update",
    "update_count", "flow_id_num"};

void expect_no_nan_or_inf(const std::string& row) {
  for (const char* bad : {"nan", "NaN", "inf", "Infinity"}) EXPECT_EQ(row.find(bad), std::string::npos) << row;
}

TEST(FlowCsv, HeaderHasTheCicNamesThenOurOwn) {
  std::vector<std::string> expected = kCicColumns;
  expected.insert(expected.end(), kOwnColumns.begin(), kOwnColumns.end());
  const std::string header = flow_csv_header();
  EXPECT_EQ(parse_csv_line(header), expected);
  EXPECT_EQ(kCicColumns.size(), 83u);  // CIC-IDS2017's 84 features minus its duplicated "Fwd Header Length"
  EXPECT_EQ(expected.size(), 101u);
  EXPECT_EQ(header.find(", "), std::string::npos) << "no stray leading spaces";
  EXPECT_EQ(std::set<std::string>(expected.begin(), expected.end()).size(), expected.size()) << "unique names";
}

TEST(FlowCsv, RowAndHeaderHaveTheSameColumnCount) {
  const auto header = parse_csv_line(flow_csv_header());
  EXPECT_EQ(parse_csv_line(flow_csv_row(tcp_record())).size(), header.size());
  EXPECT_EQ(parse_csv_line(flow_csv_row(v1::FlowRecord())).size(), header.size());
}

TEST(FlowCsv, IdentityColumns) {
  auto c = cells_of(tcp_record());
  EXPECT_EQ(c["Flow ID"], "192.0.2.10-198.51.100.10-40000-80-6");
  EXPECT_EQ(c["Source IP"], "192.0.2.10");
  EXPECT_EQ(c["Source Port"], "40000");
  EXPECT_EQ(c["Destination IP"], "198.51.100.10");
  EXPECT_EQ(c["Destination Port"], "80");
  EXPECT_EQ(c["Protocol"], "6");
  EXPECT_EQ(c["Timestamp"], "2017-07-05T09:00:00.123456Z");  // microseconds, truncated
  EXPECT_EQ(c["Flow Duration"], "10000");
}

TEST(FlowCsv, CountsLengthsAndRates) {
  auto c = cells_of(tcp_record());
  EXPECT_EQ(c["Total Fwd Packets"], "5");
  EXPECT_EQ(c["Total Backward Packets"], "6");
  EXPECT_EQ(c["Total Length of Fwd Packets"], "100");  // payload, not frame bytes
  EXPECT_EQ(c["Total Length of Bwd Packets"], "4000");
  EXPECT_EQ(c["Fwd Packet Length Max"], "100");
  EXPECT_EQ(c["Fwd Packet Length Min"], "0");
  EXPECT_EQ(c["Fwd Packet Length Mean"], "20");
  EXPECT_DOUBLE_EQ(number(c, "Fwd Packet Length Std"), std::sqrt(2000.0));
  EXPECT_DOUBLE_EQ(number(c, "Bwd Packet Length Mean"), 4000.0 / 6);
  EXPECT_EQ(c["Flow Bytes/s"], "410000");
  EXPECT_EQ(c["Flow Packets/s"], "1100");
  EXPECT_EQ(c["Fwd Packets/s"], "500");
  EXPECT_EQ(c["Bwd Packets/s"], "600");
  EXPECT_EQ(c["Min Packet Length"], "0");
  EXPECT_EQ(c["Max Packet Length"], "1000");
  EXPECT_DOUBLE_EQ(number(c, "Packet Length Mean"), 4100.0 / 11);
  EXPECT_EQ(c["Packet Length Std"], "2.5");
  EXPECT_EQ(c["Packet Length Variance"], "6.25");  // std squared
  EXPECT_DOUBLE_EQ(number(c, "Average Packet Size"), 4100.0 / 11);  // payload bytes / packets
  EXPECT_EQ(c["Avg Fwd Segment Size"], "20");
  EXPECT_DOUBLE_EQ(number(c, "Avg Bwd Segment Size"), 4000.0 / 6);
  EXPECT_EQ(c["Down/Up Ratio"], "1.2");
}

TEST(FlowCsv, InterArrivalTimes) {
  auto c = cells_of(tcp_record());
  EXPECT_EQ(c["Flow IAT Mean"], "1000");
  EXPECT_EQ(c["Flow IAT Std"], "0");
  EXPECT_EQ(c["Flow IAT Max"], "1000");
  EXPECT_EQ(c["Flow IAT Min"], "1000");
  EXPECT_EQ(c["Fwd IAT Total"], "10000");
  EXPECT_EQ(c["Fwd IAT Mean"], "2500");
  EXPECT_DOUBLE_EQ(number(c, "Fwd IAT Std"), std::sqrt(3000000.0));
  EXPECT_EQ(c["Fwd IAT Max"], "5000");
  EXPECT_EQ(c["Fwd IAT Min"], "1000");
  EXPECT_EQ(c["Bwd IAT Total"], "8000");
  EXPECT_EQ(c["Bwd IAT Mean"], "1600");
  EXPECT_EQ(c["Bwd IAT Max"], "3000");
  EXPECT_EQ(c["Bwd IAT Min"], "1000");
}

TEST(FlowCsv, FlagsHeadersWindows) {
  auto c = cells_of(tcp_record());
  EXPECT_EQ(c["Fwd PSH Flags"], "1");
  EXPECT_EQ(c["Bwd PSH Flags"], "1");
  EXPECT_EQ(c["Fwd URG Flags"], "0");
  EXPECT_EQ(c["Bwd URG Flags"], "0");
  EXPECT_EQ(c["Fwd Header Length"], "220");
  EXPECT_EQ(c["Bwd Header Length"], "260");
  EXPECT_EQ(c["FIN Flag Count"], "2");
  EXPECT_EQ(c["SYN Flag Count"], "2");
  EXPECT_EQ(c["RST Flag Count"], "0");
  EXPECT_EQ(c["PSH Flag Count"], "2");
  EXPECT_EQ(c["ACK Flag Count"], "10");
  EXPECT_EQ(c["URG Flag Count"], "0");
  EXPECT_EQ(c["CWE Flag Count"], "0");
  EXPECT_EQ(c["ECE Flag Count"], "0");
  EXPECT_EQ(c["Init_Win_bytes_forward"], "64240");
  EXPECT_EQ(c["Init_Win_bytes_backward"], "65160");
  EXPECT_EQ(c["act_data_pkt_fwd"], "1");
  EXPECT_EQ(c["min_seg_size_forward"], "40");
}

TEST(FlowCsv, CweFlagCountIsTheCwrCount) {
  v1::FlowRecord r;
  r.set_cwr_count(3);
  r.set_ece_count(5);
  auto c = cells_of(r);
  EXPECT_EQ(c["CWE Flag Count"], "3");
  EXPECT_EQ(c["ECE Flag Count"], "5");
}

TEST(FlowCsv, BulkSubflowActiveIdle) {
  auto c = cells_of(tcp_record());
  EXPECT_EQ(c["Fwd Avg Bytes/Bulk"], "0");  // no forward bulk
  EXPECT_EQ(c["Fwd Avg Packets/Bulk"], "0");
  EXPECT_EQ(c["Fwd Avg Bulk Rate"], "0");
  EXPECT_EQ(c["Bwd Avg Bytes/Bulk"], "4000");
  EXPECT_EQ(c["Bwd Avg Packets/Bulk"], "4");
  EXPECT_DOUBLE_EQ(number(c, "Bwd Avg Bulk Rate"), 4000.0 / 0.003);  // bytes per second of bulk time
  EXPECT_EQ(c["Subflow Fwd Packets"], "5");
  EXPECT_EQ(c["Subflow Fwd Bytes"], "100");
  EXPECT_EQ(c["Subflow Bwd Packets"], "6");
  EXPECT_EQ(c["Subflow Bwd Bytes"], "4000");
  EXPECT_EQ(c["Active Mean"], "10000");
  EXPECT_EQ(c["Active Std"], "0");
  EXPECT_EQ(c["Active Max"], "10000");
  EXPECT_EQ(c["Active Min"], "10000");
  EXPECT_EQ(c["Idle Mean"], "0");
  EXPECT_EQ(c["Idle Max"], "0");
}

TEST(FlowCsv, AveragesAreNotTruncatedToIntegers) {
  v1::FlowRecord r = tcp_record();
  r.set_subflow_count(2);
  r.mutable_fwd()->set_bulk_count(2);
  r.mutable_fwd()->set_bulk_packets(9);
  r.mutable_fwd()->set_bulk_bytes(4501);
  r.mutable_fwd()->set_bulk_duration_us(2000);
  auto c = cells_of(r);
  EXPECT_EQ(c["Subflow Fwd Packets"], "2.5");  // 5 / 2
  EXPECT_EQ(c["Subflow Fwd Bytes"], "50");
  EXPECT_EQ(c["Subflow Bwd Packets"], "3");
  EXPECT_EQ(c["Subflow Bwd Bytes"], "2000");
  EXPECT_EQ(c["Fwd Avg Bytes/Bulk"], "2250.5");
  EXPECT_EQ(c["Fwd Avg Packets/Bulk"], "4.5");
  EXPECT_DOUBLE_EQ(number(c, "Fwd Avg Bulk Rate"), 4501.0 / 0.002);
}

TEST(FlowCsv, OwnColumns) {
  v1::FlowRecord r = tcp_record();
  r.set_vlan_id(100);
  r.set_is_update(true);
  r.set_update_count(2);
  r.set_end_reason(v1::FLOW_END_ACTIVE_TIMEOUT);
  auto c = cells_of(r);
  EXPECT_EQ(c["fwd_frame_bytes"], "390");
  EXPECT_EQ(c["bwd_frame_bytes"], "4344");
  EXPECT_EQ(c["start_ns"], "1499245200123456789");
  EXPECT_EQ(c["end_ns"], "1499245200133456789");
  EXPECT_EQ(c["ip_version"], "4");
  EXPECT_EQ(c["vlan_id"], "100");
  EXPECT_EQ(c["interface"], "eth1");
  EXPECT_EQ(c["ifindex"], "3");
  EXPECT_EQ(c["role"], "wan");
  EXPECT_EQ(c["mode"], "gateway");
  EXPECT_EQ(c["is_wan_facing"], "1");
  EXPECT_EQ(c["direction"], "inbound");
  EXPECT_EQ(c["conn_state"], "SF");
  EXPECT_EQ(c["history"], "ShADadFf");
  EXPECT_EQ(c["end_reason"], "active_timeout");
  EXPECT_EQ(c["is_update"], "1");
  EXPECT_EQ(c["update_count"], "2");
  EXPECT_EQ(c["flow_id_num"], "42");
}

TEST(FlowCsv, EnumNames) {
  v1::FlowRecord r;
  r.set_role(v1::ROLE_LAN);
  r.set_mode(v1::MODE_HOST_BASED);
  r.set_direction(v1::FLOW_DIRECTION_TO_SENSOR);
  r.set_end_reason(v1::FLOW_END_PORT_REUSE);
  auto c = cells_of(r);
  EXPECT_EQ(c["role"], "lan");
  EXPECT_EQ(c["mode"], "host-based");
  EXPECT_EQ(c["direction"], "to_sensor");
  EXPECT_EQ(c["end_reason"], "port_reuse");
  r.set_direction(v1::FLOW_DIRECTION_OUTBOUND);
  r.set_end_reason(v1::FLOW_END_END_OF_CAPTURE);
  c = cells_of(r);
  EXPECT_EQ(c["direction"], "outbound");
  EXPECT_EQ(c["end_reason"], "end_of_capture");
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

}  // namespace
}  // namespace sniffer
