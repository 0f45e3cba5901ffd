#include "sniffer/flow_csv.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "sniffer/community_id.hpp"  // kCommunityIdLength
#include "sniffer/event_json.hpp"  // role_name, mode_name
#include "sniffer/ip_text.hpp"
#include "csv_cells.hpp"

namespace sniffer {

namespace {

using namespace csv_cells;  // the cell writers

// The row's addresses as text, formatted once (Flow ID and the IP columns use them).
struct RowText {
  // A buffer's whole size is copied into the row (put_address), whatever the text's length.
  static constexpr std::size_t kBuffer = 48;
  static_assert(kBuffer >= kIpTextMax);
  template <typename Record>
  explicit RowText(const Record& r) : src(text_of(r.src_addr(), src_buf)), dst(text_of(r.dst_addr(), dst_buf)) {}
  static std::string_view text_of(std::string_view bytes, char* buf) {
    const auto* addr = reinterpret_cast<const std::uint8_t*>(bytes.data());
    return {buf, static_cast<std::size_t>(ip_to_chars(buf, addr, bytes.size()) - buf)};
  }
  char src_buf[kBuffer]{}, dst_buf[kBuffer]{};
  std::string_view src, dst;
};

// An address's text: its buffer copied whole (a constant size, inline; not a
// library call of the text's length), the position moved by the text's length.
// The bytes past the text fall within the row's room (the cells after an
// address are given more than 48 bytes there: row_bound) and are written over by them.
char* put_address(char* at, std::string_view text) {
  std::memcpy(at, text.data(), RowText::kBuffer);
  return at + text.size();
}

// The enum names as words of 16 bytes: a cell copies all 16 (a constant
// size, inline) and moves on by the name's length (no library call of the
// name's length a cell, no strlen). The bytes past the name are written over
// by the cells after it (64 bytes of room a cell: row_bound).
struct Word {
  char text[16];
  std::size_t size;
};
constexpr Word word(std::string_view s) {
  if (s.size() > sizeof(Word::text)) throw "a word of more than 16 characters";  // not a constant: no build
  Word w{};
  for (std::size_t i = 0; i < s.size(); ++i) w.text[i] = s[i];
  w.size = s.size();
  return w;
}
char* put_word(char* at, const Word& w) {
  std::memcpy(at, w.text, sizeof w.text);
  return at + w.size;
}

// The names' words are constants in memory: a cell's copy is a load from
// there (a Word returned by value was stored field by field to the stack
// and loaded back whole, stalling on the store forwarding).
const Word& direction_word(v1::FlowDirection d) {
  using namespace std::string_view_literals;
  static constexpr Word kInbound = word("inbound"sv), kOutbound = word("outbound"sv),
                        kToSensor = word("to_sensor"sv), kFromSensor = word("from_sensor"sv),
                        kInternal = word("internal"sv), kOther = word("unspecified"sv);
  switch (d) {
    case v1::FLOW_DIRECTION_INBOUND: return kInbound;
    case v1::FLOW_DIRECTION_OUTBOUND: return kOutbound;
    case v1::FLOW_DIRECTION_TO_SENSOR: return kToSensor;
    case v1::FLOW_DIRECTION_FROM_SENSOR: return kFromSensor;
    case v1::FLOW_DIRECTION_INTERNAL: return kInternal;
    default: return kOther;
  }
}

const Word& end_reason_word(v1::FlowEndReason r) {
  using namespace std::string_view_literals;
  static constexpr Word kFin = word("fin"sv), kRst = word("rst"sv), kIdle = word("idle_timeout"sv),
                        kActive = word("active_timeout"sv), kEvicted = word("evicted"sv),
                        kShutdown = word("shutdown"sv), kEndOfCapture = word("end_of_capture"sv),
                        kPortReuse = word("port_reuse"sv), kTableFull = word("table_full"sv),
                        kOther = word("unspecified"sv);
  switch (r) {
    case v1::FLOW_END_FIN: return kFin;
    case v1::FLOW_END_RST: return kRst;
    case v1::FLOW_END_IDLE_TIMEOUT: return kIdle;
    case v1::FLOW_END_ACTIVE_TIMEOUT: return kActive;
    case v1::FLOW_END_EVICTED: return kEvicted;
    case v1::FLOW_END_SHUTDOWN: return kShutdown;
    case v1::FLOW_END_END_OF_CAPTURE: return kEndOfCapture;
    case v1::FLOW_END_PORT_REUSE: return kPortReuse;
    case v1::FLOW_END_TABLE_FULL: return kTableFull;
    default: return kOther;
  }
}

// role_name's and mode_name's texts (event_json.hpp), as words.
const Word& role_word(v1::Role r) {
  static constexpr Word kWan = word(role_name(v1::ROLE_WAN)), kLan = word(role_name(v1::ROLE_LAN)),
                        kOther = word(role_name(v1::ROLE_UNSPECIFIED));
  return r == v1::ROLE_WAN ? kWan : r == v1::ROLE_LAN ? kLan : kOther;
}
const Word& mode_word(v1::Mode m) {
  static constexpr Word kHost = word(mode_name(v1::MODE_HOST_BASED)), kGateway = word(mode_name(v1::MODE_GATEWAY)),
                        kOther = word(mode_name(v1::MODE_UNSPECIFIED));
  return m == v1::MODE_HOST_BASED ? kHost : m == v1::MODE_GATEWAY ? kGateway : kOther;
}

// A Community ID ("1:" and 28 characters of base64, or none): a copy of
// constant size when it has its length.
char* put_community_id(char* at, std::string_view id) {
  if (id.size() != kCommunityIdLength) return put_chars(at, id);
  std::memcpy(at, id.data(), kCommunityIdLength);
  return at + kCommunityIdLength;
}

// ---- derived quantities ---------------------------------------------------

template <typename Record>
std::uint64_t total_packets(const Record& r) { return r.fwd().packets() + r.bwd().packets(); }

template <typename Direction>
double avg_bulk_bytes(const Direction& d) {
  return ratio(static_cast<double>(d.bulk_bytes()), static_cast<double>(d.bulk_count()));
}
template <typename Direction>
double avg_bulk_packets(const Direction& d) {
  return ratio(static_cast<double>(d.bulk_packets()), static_cast<double>(d.bulk_count()));
}
// Payload bytes per second of bulk time.
template <typename Direction>
double bulk_rate(const Direction& d) {
  return ratio(static_cast<double>(d.bulk_bytes()), d.bulk_duration_us() * 1e-6);
}
template <typename Record>
double per_subflow(std::uint64_t v, const Record& r) {
  return ratio(static_cast<double>(v), static_cast<double>(r.subflow_count()));
}

// Addresses, ports and protocol joined by dashes: nothing to quote.
template <typename Record>
char* put_flow_id(char* at, const Record& r, const RowText& t) {
  at = put_address(at, t.src);
  *at++ = '-';
  at = put_address(at, t.dst);
  *at++ = '-';
  at = put(at, r.src_port());
  *at++ = '-';
  at = put(at, r.dst_port());
  *at++ = '-';
  return put(at, r.l4_protocol());
}

// ---- the columns ----------------------------------------------------------

// A column: its name and its cell's writer, a lambda (Record, RowText, position)
// returning the position after the cell. The columns are a tuple, not an
// array of function pointers: a row is written by one function with every
// cell's code inlined (an indirect call a cell was ~1/6 of a row's work).
template <typename Write>
struct Column {
  const char* name;
  Write cell;
};
template <typename Write>
Column(const char*, Write) -> Column<Write>;

// The table is one for both record types (v1::FlowRecord, FlowRow: the same
// accessors), instantiated for each.
// The order of the CIC-IDS2017 CSVs (GeneratedLabelledFlows / TrafficLabelling
// layout), then sniffer's own columns. One entry per column: the header and
// every row come from this table, so they cannot disagree.
// A column's cell from an expression of the record r: a number, text (quoted
// when it must be), or a word that never needs quoting (the enum names).
#define NUMBER(expr) [](const Record& r, const RowText&, char* o) { return put(o, expr); }
#define TEXT(expr) [](const Record& r, const RowText&, char* o) { return put_text(o, expr); }
#define WORD(expr) [](const Record& r, const RowText&, char* o) { return put_word(o, expr); }

template <typename Record>
constexpr auto kColumns = std::make_tuple(
    // Identity.
    Column{"Flow ID", [](const Record& r, const RowText& t, char* o) { return put_flow_id(o, r, t); }},
    Column{"Source IP", [](const Record&, const RowText& t, char* o) { return put_address(o, t.src); }},
    Column{"Source Port", NUMBER(r.src_port())},
    Column{"Destination IP", [](const Record&, const RowText& t, char* o) { return put_address(o, t.dst); }},
    Column{"Destination Port", NUMBER(r.dst_port())},
    Column{"Protocol", NUMBER(r.l4_protocol())},
    Column{"Timestamp", [](const Record& r, const RowText&, char* o) { return put_iso_utc(o, r.start_ns()); }},
    Column{"Flow Duration", NUMBER(r.duration_us())},
    // Counts and payload lengths.
    Column{"Total Fwd Packets", NUMBER(r.fwd().packets())},
    Column{"Total Backward Packets", NUMBER(r.bwd().packets())},
    Column{"Total Length of Fwd Packets", NUMBER(r.fwd().payload_bytes())},
    Column{"Total Length of Bwd Packets", NUMBER(r.bwd().payload_bytes())},
    Column{"Fwd Packet Length Max", NUMBER(r.fwd().payload_length().max())},
    Column{"Fwd Packet Length Min", NUMBER(r.fwd().payload_length().min())},
    Column{"Fwd Packet Length Mean", NUMBER(r.fwd().payload_length().mean())},
    Column{"Fwd Packet Length Std", NUMBER(r.fwd().payload_length().std())},
    Column{"Bwd Packet Length Max", NUMBER(r.bwd().payload_length().max())},
    Column{"Bwd Packet Length Min", NUMBER(r.bwd().payload_length().min())},
    Column{"Bwd Packet Length Mean", NUMBER(r.bwd().payload_length().mean())},
    Column{"Bwd Packet Length Std", NUMBER(r.bwd().payload_length().std())},
    // Rates and inter-arrival times.
    Column{"Flow Bytes/s", NUMBER(r.bytes_per_second())},
    Column{"Flow Packets/s", NUMBER(r.packets_per_second())},
    Column{"Flow IAT Mean", NUMBER(r.iat_us().mean())},
    Column{"Flow IAT Std", NUMBER(r.iat_us().std())},
    Column{"Flow IAT Max", NUMBER(r.iat_us().max())},
    Column{"Flow IAT Min", NUMBER(r.iat_us().min())},
    Column{"Fwd IAT Total", NUMBER(r.fwd().iat_us().total())},
    Column{"Fwd IAT Mean", NUMBER(r.fwd().iat_us().mean())},
    Column{"Fwd IAT Std", NUMBER(r.fwd().iat_us().std())},
    Column{"Fwd IAT Max", NUMBER(r.fwd().iat_us().max())},
    Column{"Fwd IAT Min", NUMBER(r.fwd().iat_us().min())},
    Column{"Bwd IAT Total", NUMBER(r.bwd().iat_us().total())},
    Column{"Bwd IAT Mean", NUMBER(r.bwd().iat_us().mean())},
    Column{"Bwd IAT Std", NUMBER(r.bwd().iat_us().std())},
    Column{"Bwd IAT Max", NUMBER(r.bwd().iat_us().max())},
    Column{"Bwd IAT Min", NUMBER(r.bwd().iat_us().min())},
    // Per-direction flags and headers.
    Column{"Fwd PSH Flags", NUMBER(r.fwd().psh_count())},
    Column{"Bwd PSH Flags", NUMBER(r.bwd().psh_count())},
    Column{"Fwd URG Flags", NUMBER(r.fwd().urg_count())},
    Column{"Bwd URG Flags", NUMBER(r.bwd().urg_count())},
    Column{"Fwd Header Length", NUMBER(r.fwd().header_bytes())},
    Column{"Bwd Header Length", NUMBER(r.bwd().header_bytes())},
    Column{"Fwd Packets/s", NUMBER(r.fwd().packets_per_second())},
    Column{"Bwd Packets/s", NUMBER(r.bwd().packets_per_second())},
    // Both directions' payload lengths.
    Column{"Min Packet Length", NUMBER(r.payload_length().min())},
    Column{"Max Packet Length", NUMBER(r.payload_length().max())},
    Column{"Packet Length Mean", NUMBER(r.payload_length().mean())},
    Column{"Packet Length Std", NUMBER(r.payload_length().std())},
    Column{"Packet Length Variance",
     NUMBER(r.payload_length().std() * r.payload_length().std())},
    // TCP flag counts, both directions.
    Column{"FIN Flag Count", NUMBER(r.fin_count())},
    Column{"SYN Flag Count", NUMBER(r.syn_count())},
    Column{"RST Flag Count", NUMBER(r.rst_count())},
    Column{"PSH Flag Count", NUMBER(r.psh_count())},
    Column{"ACK Flag Count", NUMBER(r.ack_count())},
    Column{"URG Flag Count", NUMBER(r.urg_count())},
    Column{"CWE Flag Count", NUMBER(r.cwr_count())},  // CIC's name for CWR
    Column{"ECE Flag Count", NUMBER(r.ece_count())},
    // Ratios and averages.
    Column{"Down/Up Ratio", NUMBER(r.down_up_ratio())},
    Column{"Average Packet Size",
     NUMBER(ratio(static_cast<double>(r.fwd().payload_bytes() + r.bwd().payload_bytes()),
                  static_cast<double>(total_packets(r))))},
    Column{"Avg Fwd Segment Size", NUMBER(r.fwd().payload_length().mean())},
    Column{"Avg Bwd Segment Size", NUMBER(r.bwd().payload_length().mean())},
    // Bulks.
    Column{"Fwd Avg Bytes/Bulk", NUMBER(avg_bulk_bytes(r.fwd()))},
    Column{"Fwd Avg Packets/Bulk", NUMBER(avg_bulk_packets(r.fwd()))},
    Column{"Fwd Avg Bulk Rate", NUMBER(bulk_rate(r.fwd()))},
    Column{"Bwd Avg Bytes/Bulk", NUMBER(avg_bulk_bytes(r.bwd()))},
    Column{"Bwd Avg Packets/Bulk", NUMBER(avg_bulk_packets(r.bwd()))},
    Column{"Bwd Avg Bulk Rate", NUMBER(bulk_rate(r.bwd()))},
    // Subflows.
    Column{"Subflow Fwd Packets", NUMBER(per_subflow(r.fwd().packets(), r))},
    Column{"Subflow Fwd Bytes", NUMBER(per_subflow(r.fwd().payload_bytes(), r))},
    Column{"Subflow Bwd Packets", NUMBER(per_subflow(r.bwd().packets(), r))},
    Column{"Subflow Bwd Bytes", NUMBER(per_subflow(r.bwd().payload_bytes(), r))},
    // TCP windows, data packets, headers.
    Column{"Init_Win_bytes_forward", NUMBER(r.fwd().init_window())},
    Column{"Init_Win_bytes_backward", NUMBER(r.bwd().init_window())},
    Column{"act_data_pkt_fwd", NUMBER(r.fwd().data_packets())},
    Column{"min_seg_size_forward", NUMBER(r.fwd().min_header_bytes())},
    // Active and idle periods.
    Column{"Active Mean", NUMBER(r.active_us().mean())},
    Column{"Active Std", NUMBER(r.active_us().std())},
    Column{"Active Max", NUMBER(r.active_us().max())},
    Column{"Active Min", NUMBER(r.active_us().min())},
    Column{"Idle Mean", NUMBER(r.idle_us().mean())},
    Column{"Idle Std", NUMBER(r.idle_us().std())},
    Column{"Idle Max", NUMBER(r.idle_us().max())},
    Column{"Idle Min", NUMBER(r.idle_us().min())},

    // sniffer's own columns.
    Column{"fwd_frame_bytes", NUMBER(r.fwd().bytes())},
    Column{"bwd_frame_bytes", NUMBER(r.bwd().bytes())},
    Column{"start_ns", NUMBER(r.start_ns())},
    Column{"end_ns", NUMBER(r.end_ns())},
    Column{"ip_version", NUMBER(r.ip_version())},
    Column{"vlan_id", NUMBER(r.vlan_id())},
    Column{"interface", TEXT(r.interface())},
    Column{"ifindex", NUMBER(r.ifindex())},
    Column{"role", WORD(role_word(r.role()))},
    Column{"mode", WORD(mode_word(r.mode()))},
    Column{"is_wan_facing", NUMBER(r.is_wan_facing() ? 1u : 0u)},
    Column{"direction", WORD(direction_word(r.direction()))},
    Column{"conn_state", TEXT(r.conn_state())},
    Column{"history", TEXT(r.history())},
    Column{"end_reason", WORD(end_reason_word(r.end_reason()))},
    Column{"is_update", NUMBER(r.is_update() ? 1u : 0u)},
    Column{"update_count", NUMBER(r.update_count())},
    Column{"flow_id_num", NUMBER(r.flow_id())},
    // "1:" and base64 (letters, digits, "+/="): never quoted, not scanned.
    Column{"community_id", [](const Record& r, const RowText&, char* o) { return put_community_id(o, r.community_id()); }});

#undef NUMBER
#undef TEXT
#undef WORD

// Room enough for any row of this record: 64 bytes a cell (numbers take at
// most 24, the timestamp 34, the enum names 14), the addresses (four times:
// Flow ID and the IP columns), and the text cells twice over (quoting).
template <typename Record>
std::size_t row_bound(const Record& r) {
  const std::size_t text = r.interface().size() + r.conn_state().size() + r.history().size() +
                           r.community_id().size() + r.label().size();
  return 64 * (std::tuple_size_v<decltype(kColumns<Record>)> + 1) + 4 * kIpTextMax + 2 * text + 4;
}

template <typename Record>
char* write_row(char* at, const Record& record, bool label_column) {
  const RowText row_text(record);
  std::apply([&](const auto&... column) { ((at = column.cell(record, row_text, at), *at++ = ','), ...); },
             kColumns<Record>);
  if (label_column) {
    at = put_text(at, record.label());
    *at++ = '\n';
  } else {
    at[-1] = '\n';  // the comma after the last cell
  }
  return at;
}

}  // namespace

std::size_t flow_csv_row_bound(const v1::FlowRecord& r) { return row_bound(r); }
std::size_t flow_csv_row_bound(const FlowRow& r) { return row_bound(r); }

std::string flow_csv_header(bool label_column) {
  std::string out;
  std::apply([&](const auto&... column) { ((out += column.name, out += ','), ...); },  // no name needs quoting
             kColumns<v1::FlowRecord>);
  out.pop_back();  // the last comma
  if (label_column) out += ",Label";  // CIC-IDS2017's name, last as in its CSVs
  out.push_back('\n');
  return out;
}

char* write_flow_csv_row(char* at, const v1::FlowRecord& record, bool label_column) {
  return write_row(at, record, label_column);
}
char* write_flow_csv_row(char* at, const FlowRow& row, bool label_column) { return write_row(at, row, label_column); }

std::string flow_csv_row(const v1::FlowRecord& record, bool label_column) {
  std::string row(flow_csv_row_bound(record), '\0');
  row.resize(static_cast<std::size_t>(write_flow_csv_row(row.data(), record, label_column) - row.data()));
  return row;
}

}  // namespace sniffer
