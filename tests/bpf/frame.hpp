// Frames for the bpf tier, built layer by layer with named fields:
//
//   Frame{}.vlan(10).ipv4({.src = "198.51.100.10", .ttl = 63}).tcp({.sport = 40000, .flags = kSyn})
//
// Each layer has a struct of its fields with the defaults of a plain packet;
// the forged_* fields write a header field the frame contradicts. cut(),
// pad_to() and the forged lengths shape what the parser must cope with. The
// bytes come from tests/support/packet_builder.hpp. Checksums are not
// computed: the programs do not verify them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "packet_builder.hpp"

namespace sniffer::test {

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct Ipv4Fields {
  const char* src = "198.51.100.10";
  const char* dst = "192.0.2.10";
  std::uint8_t ttl = 64;
  std::uint8_t ihl = 5;               // > 5 adds NOP options
  std::uint16_t frag_field = 0x4000;  // flags and offset / 8: DF, offset 0
  std::uint16_t id = 0x1234;
  std::optional<std::uint16_t> forged_total_len;  // the total length field as sent
  std::optional<std::uint8_t> forged_version_ihl;  // the first byte as sent
};

struct Ipv6Fields {
  const char* src = "2001:db8:100::10";
  const char* dst = "2001:db8:200::10";
  std::uint8_t hop_limit = 64;
  // Extension headers in order: 0 hop-by-hop, 43 routing, 60 destination
  // options (8 bytes each), 44 fragment (with the two fields below).
  std::vector<std::uint8_t> ext;
  std::uint16_t frag_offset = 0;  // bytes
  bool more_fragments = false;
  std::optional<std::uint16_t> forged_payload_len;
};

struct TcpFields {
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t flags = kSyn;
  std::uint16_t window = 0;
  std::uint8_t doff = 5;  // 32-bit words; > 5 adds NOP options
  std::string payload;
  std::uint32_t seq = 1000, ack = 0;
  std::optional<std::uint8_t> forged_doff;  // the data offset field as sent (no options added)
};

struct UdpFields {
  std::uint16_t sport = 0, dport = 0;
  std::string payload;
};

struct IcmpFields {
  std::uint8_t type = 8, code = 0;
  std::string payload;
};

// An L4 payload with no header the parser knows, under protocol `proto`.
struct RawFields {
  std::uint8_t proto = 253;
  std::string payload;
};

class Frame {
 public:
  // A VLAN tag (outer first); tpid 0x88a8 for a service tag.
  Frame& vlan(std::uint16_t tci, std::uint16_t tpid = 0x8100) {
    vlans_.emplace_back(tpid, tci);
    return *this;
  }
  // An MPLS label (outer first); the last one has the bottom-of-stack bit.
  Frame& mpls(std::uint32_t label) {
    labels_.push_back(label);
    return *this;
  }
  // The EtherType of a frame that is not IP (pad_to() gives it a body).
  Frame& ethertype(std::uint16_t type) {
    ethertype_ = type;
    return *this;
  }
  Frame& ipv4(Ipv4Fields f = {}) {
    v4_ = f;
    return *this;
  }
  Frame& ipv6(Ipv6Fields f = {}) {
    v6_ = f;
    return *this;
  }
  Frame& tcp(TcpFields f) {
    l4_ = L4{.kind = L4::Tcp, .sport = f.sport, .dport = f.dport, .tcp_flags = f.flags, .window = f.window,
             .tcp_doff = f.doff, .payload = f.payload};
    tcp_seq_ack_ = {f.seq, f.ack};
    forged_doff_ = f.forged_doff;
    return *this;
  }
  Frame& udp(UdpFields f) {
    l4_ = L4{.kind = L4::Udp, .sport = f.sport, .dport = f.dport, .payload = f.payload};
    return *this;
  }
  Frame& icmp(IcmpFields f = {}) {
    l4_ = L4{.kind = L4::Icmp, .icmp_type = f.type, .icmp_code = f.code, .payload = f.payload};
    return *this;
  }
  Frame& icmp6(IcmpFields f = {.type = 128}) {
    l4_ = L4{.kind = L4::Icmp6, .icmp_type = f.type, .icmp_code = f.code, .payload = f.payload};
    return *this;
  }
  Frame& raw(RawFields f) {
    l4_ = L4{.kind = L4::Raw, .payload = f.payload};
    raw_proto_ = f.proto;
    return *this;
  }
  // The first `length` bytes only (as a snap length cuts a capture).
  Frame& cut(std::size_t length) {
    cut_ = length;
    return *this;
  }
  // Padding up to `length` bytes (the Ethernet minimum is 60 without FCS).
  Frame& pad_to(std::size_t length, std::uint8_t fill = 0) {
    pad_ = length;
    pad_fill_ = fill;
    return *this;
  }

  Bytes bytes() const;
  operator Bytes() const { return bytes(); }  // NOLINT: a Frame stands where bytes are wanted

 private:
  Bytes ip_packet() const;  // from the IP header on (empty when not IP)

  VlanTags vlans_;
  std::vector<std::uint32_t> labels_;
  std::uint16_t ethertype_ = 0;
  std::optional<Ipv4Fields> v4_;
  std::optional<Ipv6Fields> v6_;
  L4 l4_{};
  std::pair<std::uint32_t, std::uint32_t> tcp_seq_ack_{1000, 0};
  std::optional<std::uint8_t> forged_doff_;
  std::optional<std::uint8_t> raw_proto_;
  std::optional<std::size_t> cut_, pad_;
  std::uint8_t pad_fill_ = 0;
};

inline Bytes Frame::ip_packet() const {
  Bytes frame;  // the builder's frame: a bare Ethernet header, then the IP packet
  if (v4_) {
    frame = ipv4_frame(v4_->src, v4_->dst, l4_, {.ttl = v4_->ttl, .ihl = v4_->ihl, .frag_field = v4_->frag_field, .id = v4_->id});
    if (v4_->forged_total_len) set16(frame, 14 + 2, *v4_->forged_total_len);
    if (v4_->forged_version_ihl) frame[14] = *v4_->forged_version_ihl;
    if (raw_proto_) frame[14 + 9] = *raw_proto_;
  } else if (v6_) {
    frame = ipv6_frame(v6_->src, v6_->dst, l4_, v6_->ext, v6_->frag_offset, v6_->more_fragments, {}, v6_->hop_limit);
    if (v6_->forged_payload_len) set16(frame, 14 + 4, *v6_->forged_payload_len);
  } else {
    return {};
  }
  const std::size_t l4_at = 14 + (v4_ ? v4_->ihl * 4u : 40u + 8u * v6_->ext.size());
  if (l4_.kind == L4::Tcp) {
    set16(frame, l4_at + 4, static_cast<std::uint16_t>(tcp_seq_ack_.first >> 16));
    set16(frame, l4_at + 6, static_cast<std::uint16_t>(tcp_seq_ack_.first));
    set16(frame, l4_at + 8, static_cast<std::uint16_t>(tcp_seq_ack_.second >> 16));
    set16(frame, l4_at + 10, static_cast<std::uint16_t>(tcp_seq_ack_.second));
  }
  if (forged_doff_) frame[l4_at + 12] = static_cast<std::uint8_t>(*forged_doff_ << 4);
  return Bytes(frame.begin() + 14, frame.end());
}

inline Bytes Frame::bytes() const {
  std::uint16_t type = ethertype_;
  if (!labels_.empty())
    type = 0x8847;
  else if (v4_)
    type = 0x0800;
  else if (v6_)
    type = 0x86DD;
  Bytes b = ethernet(vlans_, type);
  for (std::size_t i = 0; i < labels_.size(); ++i) {
    const bool bos = i + 1 == labels_.size();
    put32(b, (labels_[i] << 12) | (bos ? 0x100u : 0u) | 64u);  // label, TC 0, S, TTL 64
  }
  Bytes ip = ip_packet();
  b.insert(b.end(), ip.begin(), ip.end());
  if (cut_ && *cut_ < b.size()) b.resize(*cut_);
  if (pad_ && *pad_ > b.size()) b.resize(*pad_, pad_fill_);
  return b;
}

}  // namespace sniffer::test
