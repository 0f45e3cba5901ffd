#include "sniffer/event_json.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <google/protobuf/descriptor.h>
#include <nlohmann/json.hpp>

namespace sniffer {

std::string address_to_string(const std::string& bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (bytes.size() == 4) {  // dotted quad, as inet_ntop writes it (which goes through sprintf)
    char* at = buf;
    for (int i = 0; i < 4; ++i) {
      if (i) *at++ = '.';
      at = std::to_chars(at, buf + sizeof(buf), static_cast<unsigned char>(bytes[i])).ptr;
    }
    return std::string(buf, at);
  }
  if (bytes.size() == 16) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf)) ? buf : "";
  return "";
}

namespace {
std::string hex(const std::string& data) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

const char* hook_name(v1::Hook h) {
  switch (h) {
    case v1::HOOK_XDP_INGRESS: return "xdp_ingress";
    case v1::HOOK_TC_INGRESS: return "tc_ingress";
    case v1::HOOK_TC_EGRESS: return "tc_egress";
    default: return "unspecified";
  }
}
// One field's value; `i` indexes a repeated field. Addresses as text, other
// bytes as hex, Role/Mode as in the config, other enums by their proto name.
nlohmann::json field_to_json(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f, int i);

nlohmann::json message_to_json(const google::protobuf::Message& m) {
  nlohmann::json out = nlohmann::json::object();
  const google::protobuf::Reflection* r = m.GetReflection();
  const google::protobuf::Descriptor* d = m.GetDescriptor();
  for (int n = 0; n < d->field_count(); ++n) {
    const google::protobuf::FieldDescriptor* f = d->field(n);
    if (f->is_repeated()) {
      nlohmann::json items = nlohmann::json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) items.push_back(field_to_json(m, f, i));
      out[f->name()] = std::move(items);
    } else {
      out[f->name()] = field_to_json(m, f, -1);
    }
  }
  return out;
}

nlohmann::json field_to_json(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f, int i) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool rep = i >= 0;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case FD::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case FD::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case FD::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case FD::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f);
    case FD::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f);
    case FD::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case FD::CPPTYPE_STRING: {
      std::string v = rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
      if (f->type() != FD::TYPE_BYTES) return v;
      return f->name().size() > 5 && f->name().ends_with("_addr") ? address_to_string(v) : hex(v);
    }
    case FD::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      if (f->enum_type() == v1::Role_descriptor()) return role_name(static_cast<v1::Role>(v));
      if (f->enum_type() == v1::Mode_descriptor()) return mode_name(static_cast<v1::Mode>(v));
      const google::protobuf::EnumValueDescriptor* e = f->enum_type()->FindValueByNumber(v);
      return e ? nlohmann::json(e->name()) : nlohmann::json(v);
    }
    case FD::CPPTYPE_MESSAGE: return message_to_json(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
  }
  return nullptr;
}
}  // namespace

nlohmann::json event_to_json(const v1::PacketEvent& e) {
  return {{"timestamp_ns", e.timestamp_ns()},
          {"monotonic_ns", e.monotonic_ns()},
          {"interface", e.interface()},
          {"ifindex", e.ifindex()},
          {"role", role_name(e.role())},
          {"mode", mode_name(e.mode())},
          {"is_wan_facing", e.is_wan_facing()},
          {"hook", hook_name(e.hook())},
          {"ip_version", e.ip_version()},
          {"src_addr", address_to_string(e.src_addr())},
          {"dst_addr", address_to_string(e.dst_addr())},
          {"src_port", e.src_port()},
          {"dst_port", e.dst_port()},
          {"l4_protocol", e.l4_protocol()},
          {"tcp_flags", e.tcp_flags()},
          {"tcp_window", e.tcp_window()},
          {"tcp_seq", e.tcp_seq()},
          {"tcp_ack", e.tcp_ack()},
          {"ttl", e.ttl()},
          {"wire_length", e.wire_length()},
          {"l3_header_length", e.l3_header_length()},
          {"l4_header_length", e.l4_header_length()},
          {"ip_total_length", e.ip_total_length()},
          {"vlan_ids", std::vector<std::uint32_t>(e.vlan_ids().begin(), e.vlan_ids().end())},
          {"ethertype", e.ethertype()},
          {"fragment_flags", e.fragment_flags()},
          {"fragment_offset", e.fragment_offset()},
          {"fragment_id", e.fragment_id()},
          {"icmp_type", e.icmp_type()},
          {"icmp_code", e.icmp_code()},
          {"parse_flags", e.parse_flags()},
          {"verdict", e.verdict() == v1::VERDICT_BLOCKED     ? "blocked"
                      : e.verdict() == v1::VERDICT_MONITORED ? "monitored"
                                                              : "pass"},
          {"block_rule_id", e.block_rule_id()},
          {"community_id", e.community_id()},
          {"payload_hex", hex(e.payload())}};
}

nlohmann::json flow_to_json(const v1::FlowRecord& flow) { return message_to_json(flow); }

}  // namespace sniffer
