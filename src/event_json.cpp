#include "sniffer/event_json.hpp"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

namespace sniffer {

std::string address_to_string(const std::string& bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (bytes.size() == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof(buf)) ? buf : "";
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
}  // namespace

const char* role_name(v1::Role r) { return r == v1::ROLE_WAN ? "wan" : r == v1::ROLE_LAN ? "lan" : "unspecified"; }

const char* mode_name(v1::Mode m) {
  return m == v1::MODE_HOST_BASED ? "host-based" : m == v1::MODE_GATEWAY ? "gateway" : "unspecified";
}

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
          {"payload_hex", hex(e.payload())}};
}

}  // namespace sniffer
