#include "sniffer/event_wire.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "sniffer/event_codec.hpp"
#include "sniffer/wire_writer.hpp"

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
    std::memcpy(at_, data, size);
    at_ += size;
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
// Events with a bound below this have a length of at most two varint bytes.
constexpr std::size_t kTwoByteLengths = 1 << 14;

std::string_view name_of(const InterfaceInfo* iface) { return iface ? std::string_view(iface->name) : std::string_view(); }

// At most what encode_event keeps: every field a 2-byte tag, a 10-byte
// varint or a 5-byte length, plus the strings' and bytes' contents (the
// interface's name is in the prepared fields 3 to 8); then the stores'
// slack past the end.
std::size_t event_size_bound(const DecodedRecord& record, std::size_t iface_fields, std::string_view community_id) {
  constexpr std::size_t kPerField = 2 + 10 + 5;
  return E::kCommunityIdFieldNumber * kPerField + iface_fields + 2 * 16 + record.snippet.size() + community_id.size() +
         wire::kSlack;
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

// Fields 9 to 11 (ip_version, src_addr, dst_addr): an IPv4 address with its
// tag and length in one store.
std::uint8_t* encode_addresses(const sniffer_record& r, std::uint8_t* at) {
  constexpr std::uint64_t kSrc = wire::tag_of(E::kSrcAddrFieldNumber, wire::kLengthDelimited);
  constexpr std::uint64_t kDst = wire::tag_of(E::kDstAddrFieldNumber, wire::kLengthDelimited);
  static_assert(kSrc < 0x80 && kDst < 0x80);
  at = wire::u32<E::kIpVersionFieldNumber>(at, r.ip_version);
  if (r.ip_version == 4) {
    std::uint32_t src, dst;
    std::memcpy(&src, r.saddr, 4);
    std::memcpy(&dst, r.daddr, 4);
    wire::store64(at, kSrc | 4 << 8 | std::uint64_t{src} << 16);
    wire::store64(at + 6, kDst | 4 << 8 | std::uint64_t{dst} << 16);
    return at + 12;
  }
  if (r.ip_version == 6) {
    wire::store64(at, kSrc | 16 << 8);
    std::memcpy(at + 2, r.saddr, 16);
    wire::store64(at + 18, kDst | 16 << 8);
    std::memcpy(at + 20, r.daddr, 16);
    return at + 36;
  }
  return at;
}

// Field 22 (vlan_ids, packed): absent when there is no tag.
std::uint8_t* encode_vlans(const sniffer_record& r, std::uint8_t* at) {
  const unsigned count = std::min<unsigned>(r.vlan_count, 2);
  if (count == 0) return at;
  WireWriter w(at);
  std::uint8_t values[2 * 5];
  std::uint8_t* end = values;
  for (unsigned i = 0; i < count; ++i) end = CodedOutputStream::WriteVarint32ToArray(r.vlan_ids[i], end);
  w.bytes(E::kVlanIdsFieldNumber, values, static_cast<std::size_t>(end - values));
  return w.position();
}

// The 8 bytes of the record from `field` on (little-endian).
template <typename T>
std::uint64_t word_at(const T& field) {
  std::uint64_t w;
  std::memcpy(&w, &field, sizeof w);
  return w;
}

// frag_offset, icmp_type, icmp_code and parse_flags, in one word (not
// frag_flags: DF is common): 0 when all four are.
static_assert(offsetof(sniffer_record, frag_flags) == offsetof(sniffer_record, frag_offset) + 2 &&
              offsetof(sniffer_record, icmp_type) == offsetof(sniffer_record, frag_offset) + 3 &&
              offsetof(sniffer_record, icmp_code) == offsetof(sniffer_record, frag_offset) + 4 &&
              offsetof(sniffer_record, parse_flags) == offsetof(sniffer_record, frag_offset) + 5 &&
              offsetof(sniffer_record, frag_offset) + 8 <= sizeof(sniffer_record));
std::uint64_t rare_fields(const sniffer_record& r) { return word_at(r.frag_offset) & 0xffffff00ffffull; }
// tcp_ack follows tcp_seq; verdict (one byte) block_rule_id.
static_assert(offsetof(sniffer_record, tcp_ack) == offsetof(sniffer_record, tcp_seq) + 4 &&
              sizeof(sniffer_record::tcp_seq) + sizeof(sniffer_record::tcp_ack) == 8);
static_assert(offsetof(sniffer_record, verdict) == offsetof(sniffer_record, block_rule_id) + 4 &&
              sizeof(sniffer_record::verdict) == 1 && offsetof(sniffer_record, block_rule_id) + 8 <= sizeof(sniffer_record));
constexpr std::uint64_t kRuleAndVerdict = 0xffffffffffull;

}  // namespace

// PacketEvent's fields, in number order, as record_to_event sets them;
// fields 3 to 8 already encoded in iface_fields.
std::uint8_t* EventWireBatch::encode_event(const DecodedRecord& record, std::string_view iface_fields,
                                           std::uint64_t wall_ts_ns, std::string_view community_id,
                                           std::uint8_t* at) {
  const sniffer_record& r = record.header;
  at = timestamp_.put(at, wall_ts_ns);
  at = monotonic_.put(at, r.ts_mono_ns);
  wire::copy_short(at, iface_fields.data(), iface_fields.size());
  at = encode_addresses(r, at + iface_fields.size());
  at = wire::u32<E::kSrcPortFieldNumber>(at, r.sport);
  at = wire::u32<E::kDstPortFieldNumber>(at, r.dport);
  at = wire::u32<E::kL4ProtocolFieldNumber>(at, r.ip_version ? r.l4_proto : 0);
  at = wire::u32<E::kTcpFlagsFieldNumber>(at, r.tcp_flags);
  at = wire::u32<E::kTcpWindowFieldNumber>(at, r.tcp_window);
  at = wire::u32<E::kTtlFieldNumber>(at, r.ttl);
  at = wire::u32<E::kWireLengthFieldNumber>(at, r.wire_len);
  at = wire::u32<E::kL3HeaderLengthFieldNumber>(at, r.l3_hdr_len);
  at = wire::u32<E::kL4HeaderLengthFieldNumber>(at, r.l4_hdr_len);
  at = wire::u32<E::kIpTotalLengthFieldNumber>(at, r.ip_total_len);
  at = encode_vlans(r, at);
  at = wire::u32<E::kEthertypeFieldNumber>(at, r.ethertype);
  at = wire::u32<E::kFragmentFlagsFieldNumber>(at, r.frag_flags);
  // Fields that are 0 in most packets tested together (one load each).
  if (rare_fields(r) == 0) [[likely]] {
    at = wire::u32<E::kFragmentIdFieldNumber>(at, r.frag_id);
  } else {
    at = wire::u32<E::kFragmentOffsetFieldNumber>(at, r.frag_offset);
    at = wire::u32<E::kFragmentIdFieldNumber>(at, r.frag_id);
    at = wire::u32<E::kIcmpTypeFieldNumber>(at, r.icmp_type);
    at = wire::u32<E::kIcmpCodeFieldNumber>(at, r.icmp_code);
    at = wire::u32<E::kParseFlagsFieldNumber>(at, r.parse_flags);
  }
  at = wire::bytes<E::kPayloadFieldNumber>(at, record.snippet.data(), record.snippet.size());
  if (word_at(r.tcp_seq) != 0) {  // tcp_seq and tcp_ack: not TCP, both 0
    at = wire::u32<E::kTcpSeqFieldNumber>(at, r.tcp_seq);
    at = wire::u32<E::kTcpAckFieldNumber>(at, r.tcp_ack);
  }
  if ((word_at(r.block_rule_id) & kRuleAndVerdict) != 0) [[unlikely]] {
    at = wire::u32<E::kVerdictFieldNumber>(at, to_proto_verdict(r.verdict));
    at = wire::u32<E::kBlockRuleIdFieldNumber>(at, r.block_rule_id);
  }
  return wire::bytes<E::kCommunityIdFieldNumber>(at, community_id.data(), community_id.size());
}

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

void EventWireBatch::grow(std::size_t more) {
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
  const std::string_view fields = iface_fields_.of(iface, record.header);
  const std::size_t bound = event_size_bound(record, fields.size(), community_id);
  if (bound >= kTwoByteLengths) [[unlikely]] return add_long(record, fields, wall_ts_ns, community_id, bound);
  // Every event: a length of one or two bytes (two: all but tiny events).
  reserve(3 + bound);
  std::uint8_t* const tag = buffer_.get() + used_;
  std::uint8_t* const body = tag + 3;
  const auto length = static_cast<std::uint32_t>(encode_event(record, fields, wall_ts_ns, community_id, body) - body);
  if (length >= 0x80) [[likely]] {
    const std::uint32_t head = kEventsTag | ((length & 0x7f) | 0x80) << 8 | (length >> 7) << 16;
    std::memcpy(tag, &head, 3);
    used_ += 3 + length;
  } else {
    std::memmove(tag + 2, body, length);
    tag[0] = kEventsTag;
    tag[1] = static_cast<std::uint8_t>(length);
    used_ += 2 + length;
  }
  ++count_;
}

// An event whose bound needs a longer length (a long interface name or
// Community ID: not in practice).
void EventWireBatch::add_long(const DecodedRecord& record, std::string_view fields, std::uint64_t wall_ts_ns,
                              std::string_view community_id, std::size_t bound) {
  const std::size_t length_room = CodedOutputStream::VarintSize64(bound);
  reserve(1 + length_room + bound);
  std::uint8_t* const tag = buffer_.get() + used_;
  std::uint8_t* const body = tag + 1 + length_room;
  const auto length = static_cast<std::uint32_t>(encode_event(record, fields, wall_ts_ns, community_id, body) - body);
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
