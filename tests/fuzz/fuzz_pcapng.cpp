// libFuzzer: the pcapng writer (sniffer capture's files) with interface
// names, comments and frames of every length the input makes up. Each file
// written must read back through libpcap (PcapReader) with the very frames,
// lengths and timestamps written: a block or option length off by one, a
// missing pad or terminator, shows as a read error or a different frame.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "sniffer/error.hpp"
#include "sniffer/pcap_reader.hpp"
#include "sniffer/pcapng_writer.hpp"

namespace {

// Takes bytes off the front of the input; zeros once it is used up.
struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::uint32_t take(int bytes) {
    std::uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v = v << 8 | (size ? (--size, *data++) : 0);
    return v;
  }
  std::string text(std::size_t n) {
    n = std::min(n, size);
    std::string s(reinterpret_cast<const char*>(data), n);
    data += n, size -= n;
    return s;
  }
};

struct Written {
  std::uint64_t ts_ns;
  std::uint32_t wire_len;
  std::vector<std::uint8_t> data;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in{data, size};
  std::string file;
  sniffer::PcapngWriter writer(file, in.text(in.take(1)));
  const std::uint32_t interfaces = 1 + in.take(1) % 4;
  for (std::uint32_t i = 0; i < interfaces; ++i) {
    const std::string name = in.text(in.take(1));
    const std::string comment = in.text(in.take(2));
    writer.add_interface({.name = name, .comment = comment, .snaplen = 0});
  }
  std::vector<Written> written;
  while (in.size) {
    const std::uint32_t id = in.take(1) % interfaces;
    const std::uint32_t length = in.take(2) % 9200;  // up to a jumbo frame
    Written w{.ts_ns = std::uint64_t{in.take(4)} * 1'000'000'000 + in.take(4) % 1'000'000'000,
              .wire_len = length + in.take(1),
              .data = std::vector<std::uint8_t>(length, static_cast<std::uint8_t>(length))};
    const std::string comment = in.text(in.take(1));
    writer.write_packet({.interface_id = id, .ts_ns = w.ts_ns, .data = w.data, .original_len = w.wire_len,
                         .flags = in.take(1) % 3, .comment = comment});
    written.push_back(std::move(w));
  }
  for (std::uint32_t i = 0; i < interfaces; ++i) writer.write_statistics({.interface_id = i, .received = i});

  std::FILE* stream = fmemopen(file.data(), file.size(), "rb");
  if (!stream) return 0;
  sniffer::PcapReader reader(stream, "written");  // an Error here is a finding: the file is ours
  sniffer::PcapFrame frame;
  std::size_t n = 0;
  while (reader.next(frame)) {
    if (n >= written.size()) __builtin_trap();
    const Written& w = written[n++];
    if (frame.caplen != w.data.size() || frame.wire_len != w.wire_len || frame.ts_ns != w.ts_ns ||
        (!w.data.empty() && std::memcmp(frame.data, w.data.data(), w.data.size()) != 0)) {
      __builtin_trap();
    }
  }
  if (n != written.size()) __builtin_trap();
  return 0;
}
