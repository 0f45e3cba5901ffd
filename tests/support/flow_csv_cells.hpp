// FlowRecord -> CSV tests: an RFC 4180 line's cells, a record's cells by
// column name, and a hand-built TCP record with hand-computed cells.
#pragma once

#include <arpa/inet.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_csv.hpp"

namespace sniffer::test {

// Splits one newline-terminated RFC 4180 line into cells (quoted cells may
// hold commas, doubled quotes and line breaks).
inline std::vector<std::string> parse_csv_line(const std::string& line) {
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
inline std::map<std::string, std::string> cells_of(const v1::FlowRecord& record) {
  auto names = parse_csv_line(flow_csv_header());
  auto cells = parse_csv_line(flow_csv_row(record));
  EXPECT_EQ(names.size(), cells.size());
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < names.size() && i < cells.size(); ++i) out[names[i]] = cells[i];
  return out;
}

inline double number(const std::map<std::string, std::string>& cells, const std::string& name) {
  auto it = cells.find(name);
  EXPECT_NE(it, cells.end()) << "no column " << name;
  if (it == cells.end()) return std::nan("");
  std::size_t used = 0;
  double v = std::stod(it->second, &used);
  EXPECT_EQ(used, it->second.size()) << name << " = " << it->second;
  return v;
}

inline std::string addr4(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

inline std::string addr6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1);
  return std::string(reinterpret_cast<const char*>(&a), 16);
}

inline void set_stats(v1::Stats* s, std::uint64_t count, double min, double max, double mean, double std, double total) {
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
inline v1::FlowRecord tcp_record() {
  v1::FlowRecord r;
  r.set_flow_id(42);
  r.set_community_id("1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
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

inline const std::vector<std::string> kCicColumns = {
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

inline const std::vector<std::string> kOwnColumns = {
    "fwd_frame_bytes", "bwd_frame_bytes", "start_ns", "end_ns", "ip_version", "vlan_id", "interface", "ifindex",
    "role", "mode", "is_wan_facing", "direction", "conn_state", "history", "end_reason", "is_update",
    "update_count", "flow_id_num", "community_id"};

inline void expect_no_nan_or_inf(const std::string& row) {
  for (const char* bad : {"nan", "NaN", "inf", "Infinity"}) EXPECT_EQ(row.find(bad), std::string::npos) << row;
}

}  // namespace sniffer::test
