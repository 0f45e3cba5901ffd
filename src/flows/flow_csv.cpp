#include "sniffer/flow_csv.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iterator>

#include "sniffer/event_json.hpp"  // address_to_string, role_name, mode_name

namespace sniffer {

namespace {

using Record = v1::FlowRecord;

// ---- cell formatting ------------------------------------------------------

// Shortest text that reads back as the same double; NaN and +-inf become 0,
// and so does -0.
std::string num(double v) {
  if (!std::isfinite(v) || v == 0.0) return "0";
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string num(std::uint64_t v) { return std::to_string(v); }
std::string num(std::uint32_t v) { return std::to_string(v); }
std::string num(std::int32_t v) { return std::to_string(v); }

// a / b, 0 when b is 0 (and never NaN or inf).
double ratio(double a, double b) { return b != 0.0 ? a / b : 0.0; }

// RFC 4180: quoted when the text holds a comma, a quote, CR or LF; quotes doubled.
std::string text(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// ISO 8601 UTC with microseconds (truncated): 2017-07-05T09:00:00.123456Z
std::string iso_utc(std::uint64_t ns) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000ull);
  const unsigned micros = static_cast<unsigned>((ns / 1000ull) % 1'000'000ull);
  std::tm tm{};
  if (!gmtime_r(&secs, &tm)) return "";
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06uZ", micros);
  return buf;
}

const char* direction_name(v1::FlowDirection d) {
  switch (d) {
    case v1::FLOW_DIRECTION_INBOUND: return "inbound";
    case v1::FLOW_DIRECTION_OUTBOUND: return "outbound";
    case v1::FLOW_DIRECTION_TO_SENSOR: return "to_sensor";
    case v1::FLOW_DIRECTION_FROM_SENSOR: return "from_sensor";
    case v1::FLOW_DIRECTION_INTERNAL: return "internal";
    default: return "unspecified";
  }
}

const char* end_reason_name(v1::FlowEndReason r) {
  switch (r) {
    case v1::FLOW_END_FIN: return "fin";
    case v1::FLOW_END_RST: return "rst";
    case v1::FLOW_END_IDLE_TIMEOUT: return "idle_timeout";
    case v1::FLOW_END_ACTIVE_TIMEOUT: return "active_timeout";
    case v1::FLOW_END_EVICTED: return "evicted";
    case v1::FLOW_END_SHUTDOWN: return "shutdown";
    case v1::FLOW_END_END_OF_CAPTURE: return "end_of_capture";
    case v1::FLOW_END_PORT_REUSE: return "port_reuse";
    case v1::FLOW_END_TABLE_FULL: return "table_full";
    default: return "unspecified";
  }
}

// ---- derived quantities ---------------------------------------------------

std::uint64_t total_packets(const Record& r) { return r.fwd().packets() + r.bwd().packets(); }

double avg_bulk_bytes(const v1::DirectionStats& d) {
  return ratio(static_cast<double>(d.bulk_bytes()), static_cast<double>(d.bulk_count()));
}
double avg_bulk_packets(const v1::DirectionStats& d) {
  return ratio(static_cast<double>(d.bulk_packets()), static_cast<double>(d.bulk_count()));
}
// Payload bytes per second of bulk time.
double bulk_rate(const v1::DirectionStats& d) {
  return ratio(static_cast<double>(d.bulk_bytes()), d.bulk_duration_us() * 1e-6);
}
double per_subflow(std::uint64_t v, const Record& r) {
  return ratio(static_cast<double>(v), static_cast<double>(r.subflow_count()));
}

std::string flow_id_text(const Record& r) {
  return address_to_string(r.src_addr()) + "-" + address_to_string(r.dst_addr()) + "-" + num(r.src_port()) + "-" +
         num(r.dst_port()) + "-" + num(r.l4_protocol());
}

// ---- the columns ----------------------------------------------------------

struct Column {
  const char* name;
  std::string (*cell)(const Record&);
};

// The order of the CIC-IDS2017 CSVs (GeneratedLabelledFlows / TrafficLabelling
// layout), then sniffer's own columns. One entry per column: the header and
// every row come from this table, so they cannot disagree.
const Column kColumns[] = {
    // Identity.
    {"Flow ID", [](const Record& r) { return text(flow_id_text(r)); }},
    {"Source IP", [](const Record& r) { return text(address_to_string(r.src_addr())); }},
    {"Source Port", [](const Record& r) { return num(r.src_port()); }},
    {"Destination IP", [](const Record& r) { return text(address_to_string(r.dst_addr())); }},
    {"Destination Port", [](const Record& r) { return num(r.dst_port()); }},
    {"Protocol", [](const Record& r) { return num(r.l4_protocol()); }},
    {"Timestamp", [](const Record& r) { return iso_utc(r.start_ns()); }},
    {"Flow Duration", [](const Record& r) { return num(r.duration_us()); }},
    // Counts and payload lengths.
    {"Total Fwd Packets", [](const Record& r) { return num(r.fwd().packets()); }},
    {"Total Backward Packets", [](const Record& r) { return num(r.bwd().packets()); }},
    {"Total Length of Fwd Packets", [](const Record& r) { return num(r.fwd().payload_bytes()); }},
    {"Total Length of Bwd Packets", [](const Record& r) { return num(r.bwd().payload_bytes()); }},
    {"Fwd Packet Length Max", [](const Record& r) { return num(r.fwd().payload_length().max()); }},
    {"Fwd Packet Length Min", [](const Record& r) { return num(r.fwd().payload_length().min()); }},
    {"Fwd Packet Length Mean", [](const Record& r) { return num(r.fwd().payload_length().mean()); }},
    {"Fwd Packet Length Std", [](const Record& r) { return num(r.fwd().payload_length().std()); }},
    {"Bwd Packet Length Max", [](const Record& r) { return num(r.bwd().payload_length().max()); }},
    {"Bwd Packet Length Min", [](const Record& r) { return num(r.bwd().payload_length().min()); }},
    {"Bwd Packet Length Mean", [](const Record& r) { return num(r.bwd().payload_length().mean()); }},
    {"Bwd Packet Length Std", [](const Record& r) { return num(r.bwd().payload_length().std()); }},
    // Rates and inter-arrival times.
    {"Flow Bytes/s", [](const Record& r) { return num(r.bytes_per_second()); }},
    {"Flow Packets/s", [](const Record& r) { return num(r.packets_per_second()); }},
    {"Flow IAT Mean", [](const Record& r) { return num(r.iat_us().mean()); }},
    {"Flow IAT Std", [](const Record& r) { return num(r.iat_us().std()); }},
    {"Flow IAT Max", [](const Record& r) { return num(r.iat_us().max()); }},
    {"Flow IAT Min", [](const Record& r) { return num(r.iat_us().min()); }},
    {"Fwd IAT Total", [](const Record& r) { return num(r.fwd().iat_us().total()); }},
    {"Fwd IAT Mean", [](const Record& r) { return num(r.fwd().iat_us().mean()); }},
    {"Fwd IAT Std", [](const Record& r) { return num(r.fwd().iat_us().std()); }},
    {"Fwd IAT Max", [](const Record& r) { return num(r.fwd().iat_us().max()); }},
    {"Fwd IAT Min", [](const Record& r) { return num(r.fwd().iat_us().min()); }},
    {"Bwd IAT Total", [](const Record& r) { return num(r.bwd().iat_us().total()); }},
    {"Bwd IAT Mean", [](const Record& r) { return num(r.bwd().iat_us().mean()); }},
    {"Bwd IAT Std", [](const Record& r) { return num(r.bwd().iat_us().std()); }},
    {"Bwd IAT Max", [](const Record& r) { return num(r.bwd().iat_us().max()); }},
    {"Bwd IAT Min", [](const Record& r) { return num(r.bwd().iat_us().min()); }},
    // Per-direction flags and headers.
    {"Fwd PSH Flags", [](const Record& r) { return num(r.fwd().psh_count()); }},
    {"Bwd PSH Flags", [](const Record& r) { return num(r.bwd().psh_count()); }},
    {"Fwd URG Flags", [](const Record& r) { return num(r.fwd().urg_count()); }},
    {"Bwd URG Flags", [](const Record& r) { return num(r.bwd().urg_count()); }},
    {"Fwd Header Length", [](const Record& r) { return num(r.fwd().header_bytes()); }},
    {"Bwd Header Length", [](const Record& r) { return num(r.bwd().header_bytes()); }},
    {"Fwd Packets/s", [](const Record& r) { return num(r.fwd().packets_per_second()); }},
    {"Bwd Packets/s", [](const Record& r) { return num(r.bwd().packets_per_second()); }},
    // Both directions' payload lengths.
    {"Min Packet Length", [](const Record& r) { return num(r.payload_length().min()); }},
    {"Max Packet Length", [](const Record& r) { return num(r.payload_length().max()); }},
    {"Packet Length Mean", [](const Record& r) { return num(r.payload_length().mean()); }},
    {"Packet Length Std", [](const Record& r) { return num(r.payload_length().std()); }},
    {"Packet Length Variance",
     [](const Record& r) { return num(r.payload_length().std() * r.payload_length().std()); }},
    // TCP flag counts, both directions.
    {"FIN Flag Count", [](const Record& r) { return num(r.fin_count()); }},
    {"SYN Flag Count", [](const Record& r) { return num(r.syn_count()); }},
    {"RST Flag Count", [](const Record& r) { return num(r.rst_count()); }},
    {"PSH Flag Count", [](const Record& r) { return num(r.psh_count()); }},
    {"ACK Flag Count", [](const Record& r) { return num(r.ack_count()); }},
    {"URG Flag Count", [](const Record& r) { return num(r.urg_count()); }},
    {"CWE Flag Count", [](const Record& r) { return num(r.cwr_count()); }},  // CIC's name for CWR
    {"ECE Flag Count", [](const Record& r) { return num(r.ece_count()); }},
    // Ratios and averages.
    {"Down/Up Ratio", [](const Record& r) { return num(r.down_up_ratio()); }},
    {"Average Packet Size",
     [](const Record& r) {
       return num(ratio(static_cast<double>(r.fwd().payload_bytes() + r.bwd().payload_bytes()),
                        static_cast<double>(total_packets(r))));
     }},
    {"Avg Fwd Segment Size", [](const Record& r) { return num(r.fwd().payload_length().mean()); }},
    {"Avg Bwd Segment Size", [](const Record& r) { return num(r.bwd().payload_length().mean()); }},
    // Bulks.
    {"Fwd Avg Bytes/Bulk", [](const Record& r) { return num(avg_bulk_bytes(r.fwd())); }},
    {"Fwd Avg Packets/Bulk", [](const Record& r) { return num(avg_bulk_packets(r.fwd())); }},
    {"Fwd Avg Bulk Rate", [](const Record& r) { return num(bulk_rate(r.fwd())); }},
    {"Bwd Avg Bytes/Bulk", [](const Record& r) { return num(avg_bulk_bytes(r.bwd())); }},
    {"Bwd Avg Packets/Bulk", [](const Record& r) { return num(avg_bulk_packets(r.bwd())); }},
    {"Bwd Avg Bulk Rate", [](const Record& r) { return num(bulk_rate(r.bwd())); }},
    // Subflows.
    {"Subflow Fwd Packets", [](const Record& r) { return num(per_subflow(r.fwd().packets(), r)); }},
    {"Subflow Fwd Bytes", [](const Record& r) { return num(per_subflow(r.fwd().payload_bytes(), r)); }},
    {"Subflow Bwd Packets", [](const Record& r) { return num(per_subflow(r.bwd().packets(), r)); }},
    {"Subflow Bwd Bytes", [](const Record& r) { return num(per_subflow(r.bwd().payload_bytes(), r)); }},
    // TCP windows, data packets, headers.
    {"Init_Win_bytes_forward", [](const Record& r) { return num(r.fwd().init_window()); }},
    {"Init_Win_bytes_backward", [](const Record& r) { return num(r.bwd().init_window()); }},
    {"act_data_pkt_fwd", [](const Record& r) { return num(r.fwd().data_packets()); }},
    {"min_seg_size_forward", [](const Record& r) { return num(r.fwd().min_header_bytes()); }},
    // Active and idle periods.
    {"Active Mean", [](const Record& r) { return num(r.active_us().mean()); }},
    {"Active Std", [](const Record& r) { return num(r.active_us().std()); }},
    {"Active Max", [](const Record& r) { return num(r.active_us().max()); }},
    {"Active Min", [](const Record& r) { return num(r.active_us().min()); }},
    {"Idle Mean", [](const Record& r) { return num(r.idle_us().mean()); }},
    {"Idle Std", [](const Record& r) { return num(r.idle_us().std()); }},
    {"Idle Max", [](const Record& r) { return num(r.idle_us().max()); }},
    {"Idle Min", [](const Record& r) { return num(r.idle_us().min()); }},

    // sniffer's own columns.
    {"fwd_frame_bytes", [](const Record& r) { return num(r.fwd().bytes()); }},
    {"bwd_frame_bytes", [](const Record& r) { return num(r.bwd().bytes()); }},
    {"start_ns", [](const Record& r) { return num(r.start_ns()); }},
    {"end_ns", [](const Record& r) { return num(r.end_ns()); }},
    {"ip_version", [](const Record& r) { return num(r.ip_version()); }},
    {"vlan_id", [](const Record& r) { return num(r.vlan_id()); }},
    {"interface", [](const Record& r) { return text(r.interface()); }},
    {"ifindex", [](const Record& r) { return num(r.ifindex()); }},
    {"role", [](const Record& r) { return std::string(role_name(r.role())); }},
    {"mode", [](const Record& r) { return std::string(mode_name(r.mode())); }},
    {"is_wan_facing", [](const Record& r) { return std::string(r.is_wan_facing() ? "1" : "0"); }},
    {"direction", [](const Record& r) { return std::string(direction_name(r.direction())); }},
    {"conn_state", [](const Record& r) { return text(r.conn_state()); }},
    {"history", [](const Record& r) { return text(r.history()); }},
    {"end_reason", [](const Record& r) { return std::string(end_reason_name(r.end_reason())); }},
    {"is_update", [](const Record& r) { return std::string(r.is_update() ? "1" : "0"); }},
    {"update_count", [](const Record& r) { return num(r.update_count()); }},
    {"flow_id_num", [](const Record& r) { return num(r.flow_id()); }},
    {"community_id", [](const Record& r) { return text(r.community_id()); }},
};

}  // namespace

std::string flow_csv_header(bool label_column) {
  std::string out;
  for (const Column& c : kColumns) {
    if (!out.empty()) out.push_back(',');
    out += c.name;  // no name needs quoting
  }
  if (label_column) out += ",Label";  // CIC-IDS2017's name, last as in its CSVs
  out.push_back('\n');
  return out;
}

std::string flow_csv_row(const v1::FlowRecord& record, bool label_column) {
  std::string out;
  out.reserve(1024);
  bool first = true;
  for (const Column& c : kColumns) {
    if (!first) out.push_back(',');
    first = false;
    out += c.cell(record);
  }
  if (label_column) out += "," + text(record.label());
  out.push_back('\n');
  return out;
}

}  // namespace sniffer
