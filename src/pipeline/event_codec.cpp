#include "sniffer/event_codec.hpp"

namespace sniffer {

namespace {

// Copies bytes into a string field of an event: the generated setters for
// (pointer, size) build a temporary std::string first (protobuf 3.21), a
// heap allocation per call for more than 15 bytes (an IPv6 address, a
// snippet). assign() reuses the capacity the cleared field kept from the
// batch before.
void set_bytes(std::string* field, const void* data, std::size_t size) {
  field->assign(static_cast<const char*>(data), size);
}

}  // namespace

v1::Role to_proto(Role role) { return role == Role::Wan ? v1::ROLE_WAN : v1::ROLE_LAN; }

v1::Mode to_proto_mode(std::uint8_t abi_mode) {
  switch (abi_mode) {
    case SNIFFER_MODE_HOST_BASED: return v1::MODE_HOST_BASED;
    case SNIFFER_MODE_GATEWAY: return v1::MODE_GATEWAY;
    default: return v1::MODE_UNSPECIFIED;
  }
}

v1::Hook to_proto_hook(std::uint8_t abi_hook) {
  switch (abi_hook) {
    case SNIFFER_HOOK_XDP_INGRESS: return v1::HOOK_XDP_INGRESS;
    case SNIFFER_HOOK_TC_INGRESS: return v1::HOOK_TC_INGRESS;
    case SNIFFER_HOOK_TC_EGRESS: return v1::HOOK_TC_EGRESS;
    default: return v1::HOOK_UNSPECIFIED;
  }
}

void record_to_event(const DecodedRecord& record, const InterfaceInfo* iface, std::uint64_t wall_ts_ns,
                     v1::PacketEvent& e) {
  const sniffer_record& r = record.header;
  e.set_timestamp_ns(wall_ts_ns);
  e.set_monotonic_ns(r.ts_mono_ns);
  if (iface) e.set_interface(iface->name);
  e.set_ifindex(r.ifindex);
  // Role follows the kernel's view (is_wan_facing), so a record and its
  // event never disagree even while the config changes.
  e.set_role(r.is_wan_facing ? v1::ROLE_WAN : v1::ROLE_LAN);
  e.set_mode(to_proto_mode(r.mode));
  e.set_is_wan_facing(r.is_wan_facing != 0);
  e.set_hook(to_proto_hook(r.hook));

  e.set_ip_version(r.ip_version);
  std::size_t addr_len = r.ip_version == 4 ? 4 : r.ip_version == 6 ? 16 : 0;
  if (addr_len) {
    set_bytes(e.mutable_src_addr(), r.saddr, addr_len);
    set_bytes(e.mutable_dst_addr(), r.daddr, addr_len);
  }
  e.set_src_port(r.sport);
  e.set_dst_port(r.dport);
  e.set_l4_protocol(r.ip_version ? r.l4_proto : 0);
  e.set_tcp_flags(r.tcp_flags);
  e.set_tcp_window(r.tcp_window);
  e.set_tcp_seq(r.tcp_seq);
  e.set_tcp_ack(r.tcp_ack);
  e.set_ttl(r.ttl);
  e.set_wire_length(r.wire_len);
  e.set_l3_header_length(r.l3_hdr_len);
  e.set_l4_header_length(r.l4_hdr_len);
  e.set_ip_total_length(r.ip_total_len);
  for (unsigned i = 0; i < r.vlan_count && i < 2; ++i) e.add_vlan_ids(r.vlan_ids[i]);
  e.set_ethertype(r.ethertype);
  e.set_fragment_flags(r.frag_flags);
  e.set_fragment_offset(r.frag_offset);
  e.set_fragment_id(r.frag_id);
  e.set_icmp_type(r.icmp_type);
  e.set_icmp_code(r.icmp_code);
  e.set_parse_flags(r.parse_flags);
  e.set_verdict(to_proto_verdict(r.verdict));
  e.set_block_rule_id(r.block_rule_id);
  if (!record.snippet.empty()) set_bytes(e.mutable_payload(), record.snippet.data(), record.snippet.size());
}

}  // namespace sniffer
