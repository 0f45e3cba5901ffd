#include "sniffer/event_wire.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstring>

#include "sniffer/event_codec.hpp"

namespace sniffer {

namespace {

using google::protobuf::io::CodedOutputStream;
using google::protobuf::internal::WireFormatLite;
using E = v1::PacketEvent;

// Writes proto3 fields at a position with room for them (no bounds checks:
// the caller reserved event_size_bound()).
class WireWriter {
 public:
  explicit WireWriter(std::uint8_t* at) : at_(at) {}
  std::uint8_t* position() const { return at_; }

  // A scalar (uint32, uint64, bool, a non-negative enum): absent when 0.
  void varint(int field, std::uint64_t value) {
    if (value == 0) return;
    tag(field, WireFormatLite::WIRETYPE_VARINT);
    at_ = CodedOutputStream::WriteVarint64ToArray(value, at_);
  }
  // A string or bytes field: absent when empty.
  void bytes(int field, const void* data, std::size_t size) {
    if (size == 0) return;
    tag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    at_ = CodedOutputStream::WriteVarint32ToArray(static_cast<std::uint32_t>(size), at_);
    append(data, size);
  }
  // Bytes as they are.
  void append(const void* data, std::size_t size) {
    std::memcpy(at_, data, size);
    at_ += size;
  }
  // An address (4 or 16 bytes; absent when 0): copies of a constant size.
  void address(int field, const std::uint8_t* addr, std::size_t size) {
    if (size == 0) return;
    tag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    *at_++ = static_cast<std::uint8_t>(size);
    if (size == 4) std::memcpy(at_, addr, 4);
    else std::memcpy(at_, addr, 16);
    at_ += size;
  }
  // A packed repeated uint32 field: absent when empty.
  void packed(int field, const std::uint16_t* values, unsigned count) {
    if (count == 0) return;
    std::uint32_t size = 0;
    for (unsigned i = 0; i < count; ++i) size += static_cast<std::uint32_t>(CodedOutputStream::VarintSize32(values[i]));
    tag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    at_ = CodedOutputStream::WriteVarint32ToArray(size, at_);
    for (unsigned i = 0; i < count; ++i) at_ = CodedOutputStream::WriteVarint32ToArray(values[i], at_);
  }

 private:
  void tag(int field, WireFormatLite::WireType type) {
    at_ = CodedOutputStream::WriteTagToArray(WireFormatLite::MakeTag(field, type), at_);
  }

  std::uint8_t* at_;
};

constexpr std::uint32_t kEventsTag =
    WireFormatLite::MakeTag(v1::EventBatch::kEventsFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
static_assert(kEventsTag < 0x80, "EventBatch.events' tag is one byte");

std::string_view name_of(const InterfaceInfo* iface) { return iface ? std::string_view(iface->name) : std::string_view(); }

std::size_t address_length(const sniffer_record& r) { return r.ip_version == 4 ? 4 : r.ip_version == 6 ? 16 : 0; }

// At most what encode_event writes: every field a 2-byte tag, a 10-byte
// varint or a 5-byte length, plus the strings' and bytes' contents.
std::size_t event_size_bound(const DecodedRecord& record, std::string_view iface_name, std::string_view community_id) {
  constexpr std::size_t kPerField = 2 + 10 + 5;
  return E::kCommunityIdFieldNumber * kPerField + iface_name.size() + 2 * address_length(record.header) +
         record.snippet.size() + community_id.size();
}

}  // namespace

// PacketEvent's fields 3 to 8 (interface, ifindex, role, mode,
// is_wan_facing, hook): the same for every record of an interface and hook,
// so encoded again only when one of them changes.
void EventWireBatch::IfaceFields::encode(const InterfaceInfo* iface, const sniffer_record& r, std::uint64_t k) {
  const std::string_view iface_name = name_of(iface);
  key = k;
  info = iface;
  bytes.resize(iface_name.size() + 6 * (2 + 10 + 5));
  auto* const start = reinterpret_cast<std::uint8_t*>(bytes.data());
  WireWriter w(start);
  w.bytes(E::kInterfaceFieldNumber, iface_name.data(), iface_name.size());
  w.varint(E::kIfindexFieldNumber, r.ifindex);
  // Enums are written as their (non-negative) numbers.
  w.varint(E::kRoleFieldNumber, r.is_wan_facing ? v1::ROLE_WAN : v1::ROLE_LAN);
  w.varint(E::kModeFieldNumber, to_proto_mode(r.mode));
  w.varint(E::kIsWanFacingFieldNumber, r.is_wan_facing != 0);
  w.varint(E::kHookFieldNumber, to_proto_hook(r.hook));
  bytes.resize(static_cast<std::size_t>(w.position() - start));
  valid = true;
}

namespace {

// PacketEvent's fields, in number order, as record_to_event sets them;
// fields 3 to 8 already encoded in iface_fields.
std::uint8_t* encode_event(const DecodedRecord& record, std::string_view iface_fields, std::uint64_t wall_ts_ns,
                           std::string_view community_id, std::uint8_t* at) {
  const sniffer_record& r = record.header;
  WireWriter w(at);
  w.varint(E::kTimestampNsFieldNumber, wall_ts_ns);
  w.varint(E::kMonotonicNsFieldNumber, r.ts_mono_ns);
  w.append(iface_fields.data(), iface_fields.size());
  w.varint(E::kIpVersionFieldNumber, r.ip_version);
  const std::size_t addr_len = address_length(r);
  w.address(E::kSrcAddrFieldNumber, r.saddr, addr_len);
  w.address(E::kDstAddrFieldNumber, r.daddr, addr_len);
  w.varint(E::kSrcPortFieldNumber, r.sport);
  w.varint(E::kDstPortFieldNumber, r.dport);
  w.varint(E::kL4ProtocolFieldNumber, r.ip_version ? r.l4_proto : 0);
  w.varint(E::kTcpFlagsFieldNumber, r.tcp_flags);
  w.varint(E::kTcpWindowFieldNumber, r.tcp_window);
  w.varint(E::kTtlFieldNumber, r.ttl);
  w.varint(E::kWireLengthFieldNumber, r.wire_len);
  w.varint(E::kL3HeaderLengthFieldNumber, r.l3_hdr_len);
  w.varint(E::kL4HeaderLengthFieldNumber, r.l4_hdr_len);
  w.varint(E::kIpTotalLengthFieldNumber, r.ip_total_len);
  w.packed(E::kVlanIdsFieldNumber, r.vlan_ids, std::min<unsigned>(r.vlan_count, 2));
  w.varint(E::kEthertypeFieldNumber, r.ethertype);
  w.varint(E::kFragmentFlagsFieldNumber, r.frag_flags);
  w.varint(E::kFragmentOffsetFieldNumber, r.frag_offset);
  w.varint(E::kFragmentIdFieldNumber, r.frag_id);
  w.varint(E::kIcmpTypeFieldNumber, r.icmp_type);
  w.varint(E::kIcmpCodeFieldNumber, r.icmp_code);
  w.varint(E::kParseFlagsFieldNumber, r.parse_flags);
  w.bytes(E::kPayloadFieldNumber, record.snippet.data(), record.snippet.size());
  w.varint(E::kTcpSeqFieldNumber, r.tcp_seq);
  w.varint(E::kTcpAckFieldNumber, r.tcp_ack);
  w.varint(E::kVerdictFieldNumber, to_proto_verdict(r.verdict));
  w.varint(E::kBlockRuleIdFieldNumber, r.block_rule_id);
  w.bytes(E::kCommunityIdFieldNumber, community_id.data(), community_id.size());
  return w.position();
}

}  // namespace

EventWireBatch::EventWireBatch(const std::string& sensor_id, std::uint64_t sensor_start_ns, std::uint32_t worker) {
  // The batch's own fields, serialised once by libprotobuf: the events go
  // between field 3 and field 5.
  v1::EventBatch head, tail;
  head.set_sensor_id(sensor_id);
  head.set_sensor_start_ns(sensor_start_ns);
  tail.set_worker(worker);
  head_ = head.SerializeAsString();
  tail_ = tail.SerializeAsString();
}

void EventWireBatch::reserve(std::size_t more) {
  if (used_ + more <= capacity_) return;
  const std::size_t capacity = std::max({next_capacity_, 2 * capacity_, used_ + more});
  std::unique_ptr<std::uint8_t[]> grown(new std::uint8_t[capacity]);
  if (used_) std::memcpy(grown.get(), buffer_.get(), used_);
  buffer_ = std::move(grown);
  capacity_ = next_capacity_ = capacity;
}

void EventWireBatch::begin() {
  reserve(PublishSocket::kSequenceRoom + head_.size());
  used_ = PublishSocket::kSequenceRoom;
  std::memcpy(buffer_.get() + used_, head_.data(), head_.size());
  used_ += head_.size();
}

void EventWireBatch::add(const DecodedRecord& record, const InterfaceInfo* iface, std::uint64_t wall_ts_ns,
                         std::string_view community_id) {
  if (used_ == 0) begin();
  // Field 4, length-delimited: the length goes before the event, which is
  // encoded behind room for the longest length its bound allows, then moved
  // up to the length's real end if that is shorter (only tiny events).
  const std::string_view name = name_of(iface);
  const std::size_t bound = event_size_bound(record, name, community_id);
  const std::size_t length_room = CodedOutputStream::VarintSize64(bound);
  reserve(1 + length_room + bound);
  std::uint8_t* const tag = buffer_.get() + used_;
  std::uint8_t* const body = tag + 1 + length_room;
  const auto length = static_cast<std::uint32_t>(
      encode_event(record, iface_fields_.of(iface, record.header), wall_ts_ns, community_id, body) - body);
  const std::size_t length_size = CodedOutputStream::VarintSize32(length);
  if (length_size < length_room) std::memmove(tag + 1 + length_size, body, length);
  *tag = kEventsTag;
  CodedOutputStream::WriteVarint32ToArray(length, tag + 1);
  used_ += 1 + length_size + length;
  ++count_;
}

SerialisedBatch EventWireBatch::take() {
  if (used_ == 0) begin();
  reserve(tail_.size());
  std::memcpy(buffer_.get() + used_, tail_.data(), tail_.size());
  used_ += tail_.size();
  SerialisedBatch out{std::move(buffer_), used_};
  // A small batch (the latency bound's) is copied to its size: a message
  // queued at ZeroMQ never holds much more memory than its bytes.
  if (used_ < capacity_ / 2) {
    std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[used_]);
    std::memcpy(exact.get(), out.bytes.get(), used_);
    out.bytes = std::move(exact);
  }
  used_ = capacity_ = 0;
  count_ = 0;
  return out;
}

}  // namespace sniffer
