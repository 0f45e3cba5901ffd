#include "sniffer/flow_packet.hpp"

namespace sniffer {

bool flow_packet_of(const sniffer_record& r, std::uint64_t ts_ns, FlowPacket& out) {
  if (!sniffer_flow_packet_of(&r, ts_ns, r.wire_len, &out.packet)) return false;
  out.a_to_b = flow_key_of(r, out.key);
  out.ifindex = r.ifindex;
  out.mode = r.mode;
  out.is_wan_facing = r.is_wan_facing != 0 ? 1 : 0;
  return true;
}

}  // namespace sniffer
