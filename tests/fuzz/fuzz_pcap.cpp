// libFuzzer: capture files (pcap, pcapng) as the offline path reads them:
// libpcap's parsing and our frame loop. (The frames then go through
// BPF_PROG_TEST_RUN, which needs root: the bpf tier and the e2e replay of
// every capture of the corpus cover that part.) scripts/fuzz.sh seeds it with
// tests/fuzz/corpus/pcap and the small captures of tests/data/pcaps.
//
// Each input is read twice: from memory (fmemopen: no file descriptor, so
// libpcap alone) and from a memfd (a regular file: a classic pcap takes
// PcapReader's own pread path). Both must give the same frames, the same
// error and the same byte count; a difference aborts.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sniffer/error.hpp"
#include "sniffer/pcap_reader.hpp"

namespace {

struct Reading {
  std::vector<std::uint64_t> frames;  // per frame: time, lengths and an FNV-1a hash of its bytes
  std::string error;                  // the reader's error, or the constructor's
  std::uint64_t bytes_read = 0;
  bool operator==(const Reading&) const = default;
};

Reading read_all(std::FILE* stream) {
  Reading out;
  try {
    sniffer::PcapReader reader(stream, "fuzz input");
    sniffer::PcapFrame frame;
    while (reader.next(frame)) {
      // Touch every byte handed out: ASan checks they are in bounds.
      std::uint64_t hash = 1469598103934665603ull;
      for (std::uint32_t i = 0; i < frame.caplen; ++i) hash = (hash ^ frame.data[i]) * 1099511628211ull;
      out.frames.insert(out.frames.end(), {frame.ts_ns, frame.caplen, frame.wire_len, hash});
    }
    out.error = reader.error();
    out.bytes_read = reader.bytes_read();
  } catch (const sniffer::Error& e) {
    // Not a capture, or not Ethernet: a clear error is the expected outcome.
    out.error = e.what();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int memfd = memfd_create("fuzz-pcap", MFD_CLOEXEC);
  std::FILE* in_memory = fmemopen(const_cast<std::uint8_t*>(data), size, "rb");
  if (!in_memory) return 0;
  const Reading from_memory = read_all(in_memory);
  // Offset 0: the descriptors dup'ed from it share one file offset.
  if (memfd < 0 || ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != static_cast<ssize_t>(size) ||
      lseek(memfd, 0, SEEK_SET) != 0) {
    return 0;
  }
  const int fd = dup(memfd);  // the reader closes its stream
  std::FILE* in_file = fd < 0 ? nullptr : fdopen(fd, "rb");
  if (!in_file) {
    if (fd >= 0) close(fd);
    return 0;
  }
  if (!(read_all(in_file) == from_memory)) {
    std::fprintf(stderr, "fuzz_pcap: the file read differs from libpcap's read of the same bytes\n");
    std::abort();
  }
  return 0;
}
