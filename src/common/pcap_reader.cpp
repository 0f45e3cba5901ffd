#include "sniffer/pcap_reader.hpp"

#include <pcap/pcap.h>
#include <stdio_ext.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {
// 16 x stdio's 4 KiB: as fast here as 1 MiB, and a merge keeps every input
// open at once (300 files: 68 MiB peak RSS with 64 KiB buffers, 350 with 1 MiB).
constexpr std::size_t kReadBufferBytes = 64 << 10;
}

PcapReader::PcapReader(const std::string& path) {
  // "-": standard input (pcap_close leaves it open).
  std::FILE* stream = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!stream) throw Error("--read-pcap " + path + ": " + errno_text(errno));
  buffer_ = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);  // not zeroed: stdio fills it
  std::setvbuf(stream, buffer_.get(), _IOFBF, kReadBufferBytes);
  open(stream, path, "--read-pcap " + path);
}

PcapReader::PcapReader(std::FILE* stream, const std::string& name) { open(stream, name, name); }

// Takes the stream: pcap_close closes it, and so does a failure here, whose
// error starts with `what`.
void PcapReader::open(std::FILE* stream, const std::string& name, const std::string& what) {
  // One reader, one thread: no stdio lock around each of libpcap's two
  // fread()s a packet.
  __fsetlocking(stream, FSETLOCKING_BYCALLER);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (!pcap_) {
    std::fclose(stream);
    throw Error(what + ": " + errbuf);
  }
  check_link_type(name);
}

void PcapReader::check_link_type(const std::string& name) {
  if (pcap_datalink(pcap_) == DLT_EN10MB) return;
  const char* type = pcap_datalink_val_to_name(pcap_datalink(pcap_));
  std::string what = name + ": link type " + (type ? type : "unknown") + " is not supported (Ethernet captures only)";
  pcap_close(pcap_);
  pcap_ = nullptr;
  throw Error("--read-pcap " + what);
}

PcapReader::~PcapReader() {
  if (pcap_) pcap_close(pcap_);
}

std::uint64_t PcapReader::bytes_read() const {
  const off_t at = ftello(pcap_file(pcap_));
  return at < 0 ? record_bytes_ : static_cast<std::uint64_t>(at);
}

bool PcapReader::next(PcapFrame& frame) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_, &hdr, &data);
  if (rc != 1) {
    if (rc == PCAP_ERROR) error_ = pcap_geterr(pcap_);
    return false;
  }
  // A file may carry any time, negative or beyond 2554: clamp rather than wrap.
  constexpr std::uint64_t kMaxSeconds = UINT64_MAX / 1'000'000'000ull - 1;
  const auto sec = hdr->ts.tv_sec < 0 ? 0ull : static_cast<std::uint64_t>(hdr->ts.tv_sec);
  const auto nsec = hdr->ts.tv_usec < 0 ? 0ull : static_cast<std::uint64_t>(hdr->ts.tv_usec) % 1'000'000'000ull;
  frame.ts_ns = hdr->ts.tv_sec < 0 ? 0 : (sec > kMaxSeconds ? UINT64_MAX : sec * 1'000'000'000ull + nsec);
  frame.caplen = hdr->caplen;
  record_bytes_ += 16 + hdr->caplen;
  frame.wire_len = hdr->len;
  frame.data = data;
  return true;
}

}  // namespace sniffer
