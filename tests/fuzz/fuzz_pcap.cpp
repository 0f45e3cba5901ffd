// libFuzzer: capture files (pcap, pcapng) as the offline path reads them:
// libpcap's parsing and our frame loop. (The frames then go through
// BPF_PROG_TEST_RUN, which needs root: the bpf tier and the e2e replay of
// every capture of the corpus cover that part.) scripts/fuzz.sh seeds it with
// tests/fuzz/corpus/pcap and the small captures of tests/data/pcaps.
#include <cstdint>
#include <cstdio>

#include "sniffer/error.hpp"
#include "sniffer/pcap_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* stream = fmemopen(const_cast<std::uint8_t*>(data), size, "rb");
  if (!stream) return 0;
  try {
    sniffer::PcapReader reader(stream, "fuzz input");
    sniffer::PcapFrame frame;
    std::uint64_t bytes = 0;
    while (reader.next(frame)) {
      // Touch every byte libpcap hands out: ASan checks they are in bounds.
      for (std::uint32_t i = 0; i < frame.caplen; ++i) bytes += frame.data[i];
    }
    (void)bytes;
  } catch (const sniffer::Error&) {
    // Not a capture, or not Ethernet: a clear error is the expected outcome.
  }
  return 0;
}
