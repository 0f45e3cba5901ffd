// pcapng, as `sniffer capture` writes it: a section header, one interface
// description block per interface (name, comment, link type, snap length,
// nanosecond timestamps), enhanced packet blocks (direction flags, an
// optional comment), and an interface statistics block per interface at the
// end (received, dropped by the capture path, dropped by the daemon).
// Blocks are appended to a caller's string in host byte order (the section
// header's byte-order magic says which); every block and option is padded to
// 32 bits and every option list ends with opt_endofopt.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sniffer {

inline constexpr std::uint16_t kLinkTypeEthernet = 1;
// epb_flags: the direction bits (pcapng, section "epb_flags").
inline constexpr std::uint32_t kPcapngInbound = 1;
inline constexpr std::uint32_t kPcapngOutbound = 2;

class PcapngWriter {
 public:
  struct Interface {
    std::string_view name;
    std::string_view comment;
    std::uint16_t link_type = kLinkTypeEthernet;
    std::uint32_t snaplen = 0;  // 0: no limit. libpcap reads only files whose interfaces all have the same
  };
  struct Packet {
    std::uint32_t interface_id = 0;
    std::uint64_t ts_ns = 0;  // wall clock, ns since the epoch
    std::span<const std::uint8_t> data;
    std::uint32_t original_len = 0;  // at least data.size()
    std::uint32_t flags = 0;         // epb_flags; 0: none written
    std::string_view comment;        // empty: none
  };
  struct Statistics {
    std::uint32_t interface_id = 0;
    std::uint64_t ts_ns = 0;
    std::uint64_t start_ns = 0, end_ns = 0;  // isb_starttime, isb_endtime
    std::uint64_t received = 0;              // isb_ifrecv
    std::uint64_t if_drop = 0;               // isb_ifdrop
    std::uint64_t os_drop = 0;               // isb_osdrop
  };

  // Appends the section header block (with shb_userappl = `application`).
  PcapngWriter(std::string& out, std::string_view application);

  // Appends an interface description block; returns its interface id.
  std::uint32_t add_interface(const Interface& iface);
  // Appends an enhanced packet block. Throws Error for an unknown interface,
  // a frame longer than 2^31 or an original length shorter than the frame.
  void write_packet(const Packet& packet);
  // Appends an interface statistics block (Error for an unknown interface).
  void write_statistics(const Statistics& stats);

  std::uint32_t interfaces() const { return interfaces_; }

 private:
  std::string& out_;
  std::uint32_t interfaces_ = 0;
};

}  // namespace sniffer
