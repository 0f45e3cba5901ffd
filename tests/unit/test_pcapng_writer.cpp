// The pcapng writer: what it writes reads back through libpcap (the
// offline path's reader) frame for frame; every block is 32-bit aligned
// with its length at both ends; options too long for their 16-bit length
// are cut; a packet of an unknown interface or with a short original length
// is refused. The capture filter's text: each term, and the errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sniffer/capture_filter.hpp"
#include "sniffer/error.hpp"
#include "sniffer/pcap_reader.hpp"
#include "sniffer/pcapng_writer.hpp"

namespace sniffer {
namespace {

// Every block's (type, total length), checking both copies of the length.
std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks(const std::string& file) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (std::size_t pos = 0; pos < file.size();) {
    std::uint32_t type, length, trailing;
    std::memcpy(&type, file.data() + pos, 4);
    std::memcpy(&length, file.data() + pos + 4, 4);
    EXPECT_EQ(length % 4, 0u);
    EXPECT_LE(pos + length, file.size());
    std::memcpy(&trailing, file.data() + pos + length - 4, 4);
    EXPECT_EQ(trailing, length);
    out.emplace_back(type, length);
    pos += length;
  }
  return out;
}

TEST(PcapngWriter, WritesWhatLibpcapReadsBack) {
  std::string file;
  PcapngWriter w(file, "sniffer test");
  EXPECT_EQ(w.add_interface({.name = "wan0", .comment = "role wan, mode host-based", .snaplen = 96}), 0u);
  // libpcap reads a file only when all its interfaces have the same snap length.
  EXPECT_EQ(w.add_interface({.name = "lan0", .comment = std::string(70000, 'c'), .snaplen = 96}), 1u);  // cut
  const std::vector<std::uint8_t> a(61, 0xaa), b(96, 0xbb);
  w.write_packet({.interface_id = 0, .ts_ns = 1'700'000'000'123'456'789, .data = a, .original_len = 61,
                  .flags = kPcapngInbound, .comment = "xdp ingress"});
  w.write_packet({.interface_id = 1, .ts_ns = 1'700'000'001'000'000'001, .data = b, .original_len = 1500});
  w.write_statistics({.interface_id = 1, .ts_ns = 1, .received = 3, .if_drop = 2, .os_drop = 1});
  EXPECT_THROW(w.write_packet({.interface_id = 2, .data = a, .original_len = 61}), Error);
  EXPECT_THROW(w.write_packet({.interface_id = 0, .data = a, .original_len = 60}), Error);
  EXPECT_THROW(w.write_statistics({.interface_id = 2}), Error);

  const auto got = blocks(file);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].first, 0x0A0D0D0Au);
  EXPECT_EQ(got[1].first, 1u);
  EXPECT_EQ(got[2].first, 1u);
  EXPECT_EQ(got[2].second, 8 + 8 + (4 + 4) + (4 + 65536) + (4 + 4) + 4 + 4);  // if_name, the cut comment, if_tsresol
  EXPECT_EQ(got[3].first, 6u);
  EXPECT_EQ(got[3].second, 8 + 20 + 64 + (4 + 4) + (4 + 12) + 4 + 4);  // 61 bytes padded, flags, comment, end
  EXPECT_EQ(got[5].first, 5u);

  std::FILE* stream = fmemopen(file.data(), file.size(), "rb");
  ASSERT_NE(stream, nullptr);
  PcapReader reader(stream, "written");
  PcapFrame f;
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f.ts_ns, 1'700'000'000'123'456'789u);
  EXPECT_EQ(f.caplen, 61u);
  EXPECT_EQ(f.wire_len, 61u);
  EXPECT_EQ(std::vector<std::uint8_t>(f.data, f.data + f.caplen), a);
  ASSERT_TRUE(reader.next(f)) << reader.error();
  EXPECT_EQ(f.ts_ns, 1'700'000'001'000'000'001u);
  EXPECT_EQ(f.caplen, 96u);
  EXPECT_EQ(f.wire_len, 1500u);
  EXPECT_FALSE(reader.next(f));
}

TEST(CaptureFilter, TermsFillEndAThenEndB) {
  const sniffer_capture_filter flow = parse_capture_filter("flow udp [2001:db8::7]:5000 [2001:db8::1]:53", {});
  EXPECT_EQ(flow.l4_proto, 17);
  EXPECT_EQ(flow.a.port, 5000);
  EXPECT_EQ(flow.b.port, 53);
  const sniffer_capture_filter terms = parse_capture_filter("net 10.0.0.0/9 port 53 proto icmp host 10.200.0.1", {});
  EXPECT_EQ(terms.ip_version, 4);
  EXPECT_EQ(terms.l4_proto, 1);
  EXPECT_EQ(terms.a.port, 53);
  EXPECT_EQ(terms.a.mask[0], 0xff);
  EXPECT_EQ(terms.a.mask[1], 0x80);
  EXPECT_EQ(terms.a.mask[2], 0);
  EXPECT_EQ(terms.b.mask[3], 0xff);
  EXPECT_EQ(terms.b.addr[1], 200);
  const sniffer_capture_filter any = parse_capture_filter("", {});
  EXPECT_EQ(any.ip_version, 0);
  EXPECT_EQ(any.a.mask[0], 0);

  InterfaceTable table;
  table[7] = InterfaceInfo{.name = "wan0", .ifindex = 7};
  EXPECT_EQ(parse_capture_filter("interface wan0", table).ifindex, 7u);
  for (const char* bad : {"interface lan0", "port", "port 0", "port 70000", "proto bogus", "host 10.0.0.1 host ::1",
                          "host 1.1.1.1 host 2.2.2.2 host 3.3.3.3", "flow udp 10.0.0.1 10.0.0.2:1",
                          "flow udp 10.0.0.0/8:1 10.0.0.2:1", "colour red"}) {
    EXPECT_THROW(parse_capture_filter(bad, table), Error) << bad;
  }
}

}  // namespace
}  // namespace sniffer
