// FlowRecord -> CSV, the cells: each column of a hand-built record,
// hand-computed.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "flow_csv_cells.hpp"

namespace sniffer::test {
namespace {

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
  EXPECT_EQ(c["community_id"], "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");  // as it is: base64 needs no quoting
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

}  // namespace
}  // namespace sniffer::test
