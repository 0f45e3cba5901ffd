#include "sniffer/record_processor.hpp"

#include <netinet/in.h>

#include <cstring>

#include "sniffer/community_id.hpp"

namespace sniffer {

RecordProcessor::RecordProcessor(const InterfaceTable& interfaces, const HostAddresses& host, EventStream* events,
                                 FlowTable* flows, std::uint16_t community_id_seed)
    : interfaces_(&interfaces), host_(&host), events_(events), flows_(flows), community_id_seed_(community_id_seed) {}

bool RecordProcessor::sent_by_host(const sniffer_record& r) const {
  HostAddresses::Address src;
  std::memcpy(src.data(), r.saddr, src.size());
  return host_->is_local(r.ip_version, src);
}

void RecordProcessor::prefetch(const void* data, std::size_t size) {
  // Committed bytes the kernel no longer writes (8-byte aligned in the
  // ring); not validated yet, but any key is harmless here.
  const auto* r = static_cast<const sniffer_record*>(data);
  if (!flows_ || !flows_->prefetch_pays() || size < sizeof(sniffer_record) || r->magic != SNIFFER_RECORD_MAGIC) return;
  if (r->ip_version != 4 && r->ip_version != 6) return;
  FlowKey key;
  flow_key_of(*r, key);
  flows_->prefetch(key);
}

const FlowState* RecordProcessor::add_to_flow(const sniffer_record& r, std::uint64_t ts_ns) {
  if (!flow_packet_of(r, ts_ns, packet_)) {
    ++counters_.not_ip;
    return nullptr;
  }
  // A forwarded packet leaving through TC egress was already counted when
  // it entered: only the host's own packets count at egress.
  if (r.hook == SNIFFER_HOOK_TC_EGRESS && !sent_by_host(r)) {
    ++counters_.egress_forwarded;
    return nullptr;
  }
  return &flows_->add(packet_);
}

const std::string& RecordProcessor::community_id_of(const sniffer_record& r, const FlowState* flow) {
  static const std::string none;
  if ((r.ip_version != 4 && r.ip_version != 6) || r.l3_hdr_len == 0) return none;  // no addresses read
  if (flow) {
    // r has its flow's key: it hashes as the flow does unless it is an ICMP
    // message other than the flow's first, or a fragment after the first
    // where the flow began with its L4 header (or the other way round).
    const bool icmp = r.l4_proto == IPPROTO_ICMP || r.l4_proto == IPPROTO_ICMPV6;
    const bool no_l4_header = (r.frag_flags & SNIFFER_FRAG_NOT_FIRST) != 0;
    if (!icmp && no_l4_header == (flow->state().no_l4_header != 0)) return flow->community_id(community_id_seed_);
  }
  const CommunityIdTuple tuple = community_id_tuple(r);
  if (flow && flow->community_id_tuple() == tuple) return flow->community_id(community_id_seed_);
  return community_ids_.get(tuple, community_id_seed_);
}

const InterfaceInfo* RecordProcessor::interface_of(const sniffer_record& r) {
  ++counters_.records;
  if (r.ifindex != iface_ifindex_ || !iface_known_) {
    // Nearly every record comes from the interface of the one before.
    auto it = interfaces_->find(r.ifindex);
    iface_ = it == interfaces_->end() ? nullptr : &it->second;
    iface_ifindex_ = r.ifindex;
    iface_known_ = true;
  }
  if (!iface_) ++counters_.unknown_ifindex;
  return iface_;
}

void RecordProcessor::process(const DecodedRecord& record, std::uint64_t ts_ns, std::uint64_t now_mono_ns) {
  const sniffer_record& r = record.header;
  const InterfaceInfo* iface = interface_of(r);
  // The flow first: the event takes its Community ID.
  const FlowState* flow = flows_ ? add_to_flow(r, ts_ns) : nullptr;
  if (events_) events_->add(now_mono_ns, record, iface, ts_ns, community_id_of(r, flow));
}

void RecordProcessor::process_group(const DecodedRecord* const* records, const std::uint64_t* ts_ns, std::size_t n,
                                    std::uint64_t now_mono_ns) {
  if (!flows_ || n > kGroup) {
    for (std::size_t i = 0; i < n; ++i) process(*records[i], ts_ns[i], now_mono_ns);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {  // what add_to_flow computes first
    const sniffer_record& r = records[i]->header;
    const bool joins = flow_packet_of(r, ts_ns[i], group_packets_[i]);
    group_joins_[i] = !joins ? 0 : r.hook == SNIFFER_HOOK_TC_EGRESS ? 2 : 1;
    if (joins) group_hashes_[i] = flows_->hash_of(group_packets_[i].key);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const DecodedRecord& record = *records[i];
    const sniffer_record& r = record.header;
    const InterfaceInfo* iface = interface_of(r);
    const FlowState* flow = nullptr;
    if (group_joins_[i] == 0) ++counters_.not_ip;
    else if (group_joins_[i] == 2 && !sent_by_host(r)) ++counters_.egress_forwarded;  // as add_to_flow
    else flow = &flows_->add(group_packets_[i], group_hashes_[i]);
    if (events_) events_->add(now_mono_ns, record, iface, ts_ns[i], community_id_of(r, flow));
  }
}

const std::string& CommunityIdCache::get(const CommunityIdTuple& tuple, std::uint16_t seed) {
  if (entries_.empty()) entries_.resize(kSlots);
  std::uint64_t w[4];
  std::memcpy(w, tuple.src.data(), 16);
  std::memcpy(w + 2, tuple.dst.data(), 16);
  std::uint64_t h = (w[0] ^ w[1] * 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull ^
                    (w[2] ^ w[3] * 0x94d049bb133111ebull) ^
                    (std::uint64_t{tuple.sport} << 16 | tuple.dport | std::uint64_t{tuple.proto} << 32);
  h *= 0x9e3779b97f4a7c15ull;
  Entry& e = entries_[(h >> 40) & (kSlots - 1)];
  if (e.id.empty() || e.seed != seed || !(e.tuple == tuple)) {
    e.tuple = tuple;
    e.seed = seed;
    e.id = community_id(tuple, seed);
  }
  return e.id;
}

}  // namespace sniffer
