#include "sniffer/packet_info.hpp"

#include <cstring>

#include "sniffer/flow_update.h"

namespace sniffer {

bool packet_info_from_record(const sniffer_record& r, std::uint64_t ts_ns, PacketInfo& p) {
  sniffer_flow_packet f;
  if (!sniffer_flow_packet_of(&r, ts_ns, r.wire_len, &f)) return false;
  p.ts_ns = ts_ns;
  p.ip_version = r.ip_version;
  p.l4_proto = r.l4_proto;
  std::memcpy(p.src.data(), r.saddr, 16);
  std::memcpy(p.dst.data(), r.daddr, 16);
  p.sport = r.sport;
  p.dport = r.dport;
  p.vlan_id = r.vlan_count ? r.vlan_ids[0] : 0;
  p.wire_len = f.wire_len;
  p.header_len = f.header_len;
  p.payload_len = f.payload_len;  // from the IP header's own length (Ethernet padding excluded)
  p.has_tcp_header = f.has_tcp_header != 0;
  p.has_tcp_window = f.has_tcp_window != 0;
  p.tcp_flags = f.tcp_flags;
  p.tcp_window = f.tcp_window;
  p.tcp_seq = f.tcp_seq;
  p.ifindex = r.ifindex;
  p.hook = r.hook;
  p.mode = r.mode;
  p.is_wan_facing = r.is_wan_facing != 0;
  return true;
}

}  // namespace sniffer
