#include "sniffer/pcapng_writer.hpp"

#include <cstring>
#include <limits>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

// Block types and option codes (pcapng, draft-ietf-opsawg-pcapng).
constexpr std::uint32_t kSectionHeader = 0x0A0D0D0A;
constexpr std::uint32_t kInterfaceDescription = 1;
constexpr std::uint32_t kInterfaceStatistics = 5;
constexpr std::uint32_t kEnhancedPacket = 6;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr std::uint16_t kOptEnd = 0, kOptComment = 1;
constexpr std::uint16_t kShbUserAppl = 4;
constexpr std::uint16_t kIfName = 2, kIfTsresol = 9;
constexpr std::uint16_t kEpbFlags = 2;
constexpr std::uint16_t kIsbStartTime = 2, kIsbEndTime = 3, kIsbIfRecv = 4, kIsbIfDrop = 5, kIsbOsDrop = 7;
// An option's length is 16 bits; a longer text is cut there.
constexpr std::size_t kMaxOptionBytes = std::numeric_limits<std::uint16_t>::max();

std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// One block: its type and a placeholder length first, the length patched in
// and repeated at the end once the body (padded to 32 bits) is complete.
class Block {
 public:
  Block(std::string& out, std::uint32_t type) : out_(out), start_(out.size()) {
    u32(type);
    u32(0);
  }
  void u16(std::uint16_t v) { bytes(&v, sizeof v); }
  void u32(std::uint32_t v) { bytes(&v, sizeof v); }
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  // A timestamp as pcapng stores it: the high 32 bits, then the low.
  void timestamp(std::uint64_t ts) {
    u32(static_cast<std::uint32_t>(ts >> 32));
    u32(static_cast<std::uint32_t>(ts));
  }
  void bytes(const void* data, std::size_t n) {
    if (n) out_.append(static_cast<const char*>(data), n);
  }
  void pad() { out_.append(padded(out_.size() - start_) - (out_.size() - start_), '\0'); }
  void option(std::uint16_t code, const void* data, std::size_t n) {
    u16(code);
    u16(static_cast<std::uint16_t>(n));
    bytes(data, n);
    pad();
  }
  void text_option(std::uint16_t code, std::string_view text) {
    if (!text.empty()) option(code, text.data(), std::min(text.size(), kMaxOptionBytes));
  }
  void u64_option(std::uint16_t code, std::uint64_t v) { option(code, &v, sizeof v); }
  void end_options() { option(kOptEnd, nullptr, 0); }
  void finish() {
    pad();
    const auto total = static_cast<std::uint32_t>(out_.size() - start_ + 4);
    std::memcpy(out_.data() + start_ + 4, &total, sizeof total);
    u32(total);
  }

 private:
  std::string& out_;
  std::size_t start_;
};

}  // namespace

PcapngWriter::PcapngWriter(std::string& out, std::string_view application) : out_(out) {
  Block b(out_, kSectionHeader);
  b.u32(kByteOrderMagic);
  b.u16(1);  // version 1.0
  b.u16(0);
  b.u64(~std::uint64_t{0});  // section length: not given
  b.text_option(kShbUserAppl, application);
  b.end_options();
  b.finish();
}

std::uint32_t PcapngWriter::add_interface(const Interface& iface) {
  Block b(out_, kInterfaceDescription);
  b.u16(iface.link_type);
  b.u16(0);
  b.u32(iface.snaplen);
  b.text_option(kIfName, iface.name);
  b.text_option(kOptComment, iface.comment);
  const std::uint8_t nanoseconds = 9;  // if_tsresol: 10^-9 s
  b.option(kIfTsresol, &nanoseconds, 1);
  b.end_options();
  b.finish();
  return interfaces_++;
}

void PcapngWriter::write_packet(const Packet& p) {
  if (p.interface_id >= interfaces_) throw Error("pcapng: a packet of unknown interface " + std::to_string(p.interface_id));
  if (p.data.size() > std::numeric_limits<std::int32_t>::max()) throw Error("pcapng: a frame over 2 GiB");
  if (p.original_len < p.data.size()) throw Error("pcapng: an original length shorter than the frame");
  Block b(out_, kEnhancedPacket);
  b.u32(p.interface_id);
  b.timestamp(p.ts_ns);
  b.u32(static_cast<std::uint32_t>(p.data.size()));
  b.u32(p.original_len);
  b.bytes(p.data.data(), p.data.size());
  b.pad();
  if (p.flags) b.option(kEpbFlags, &p.flags, sizeof p.flags);
  b.text_option(kOptComment, p.comment);
  if (p.flags || !p.comment.empty()) b.end_options();
  b.finish();
}

void PcapngWriter::write_statistics(const Statistics& s) {
  if (s.interface_id >= interfaces_) throw Error("pcapng: statistics of unknown interface " + std::to_string(s.interface_id));
  Block b(out_, kInterfaceStatistics);
  b.u32(s.interface_id);
  b.timestamp(s.ts_ns);
  for (auto [code, ts] : {std::pair{kIsbStartTime, s.start_ns}, std::pair{kIsbEndTime, s.end_ns}}) {
    const std::uint32_t halves[2] = {static_cast<std::uint32_t>(ts >> 32), static_cast<std::uint32_t>(ts)};
    b.option(code, halves, sizeof halves);
  }
  b.u64_option(kIsbIfRecv, s.received);
  b.u64_option(kIsbIfDrop, s.if_drop);
  b.u64_option(kIsbOsDrop, s.os_drop);
  b.end_options();
  b.finish();
}

}  // namespace sniffer
