#include "sniffer/packet_info.hpp"

#include <cstring>

namespace sniffer {

bool packet_info_from_record(const sniffer_record& r, std::uint64_t ts_ns, PacketInfo& p) {
  if (r.ip_version != 4 && r.ip_version != 6) return false;
  if (r.l3_hdr_len == 0) return false;  // truncated or malformed before the addresses
  p.ts_ns = ts_ns;
  p.ip_version = r.ip_version;
  p.l4_proto = r.l4_proto;
  std::memcpy(p.src.data(), r.saddr, 16);
  std::memcpy(p.dst.data(), r.daddr, 16);
  p.sport = r.sport;
  p.dport = r.dport;
  p.vlan_id = r.vlan_count ? r.vlan_ids[0] : 0;
  p.wire_len = r.wire_len;
  p.header_len = r.l3_hdr_len + r.l4_hdr_len;
  // Payload from the IP header's own length (Ethernet padding excluded).
  std::uint32_t ip_len = r.ip_total_len;
  p.payload_len = ip_len > p.header_len ? ip_len - p.header_len : 0;
  p.has_tcp_header = r.l4_proto == 6 && r.l4_hdr_len >= 20 && !(r.frag_flags & SNIFFER_FRAG_NOT_FIRST);
  p.tcp_flags = p.has_tcp_header ? r.tcp_flags : 0;
  p.tcp_window = p.has_tcp_header ? r.tcp_window : 0;
  p.tcp_seq = p.has_tcp_header ? r.tcp_seq : 0;
  p.ifindex = r.ifindex;
  p.hook = r.hook;
  p.mode = r.mode;
  p.is_wan_facing = r.is_wan_facing != 0;
  return true;
}

}  // namespace sniffer
