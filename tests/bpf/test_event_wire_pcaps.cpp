// bpf tier: the test captures' frames through the real programs (XDP, and TC
// egress up to 1518 bytes; 64-byte snippets as config/lab.json), their records encoded both
// ways: EventWireBatch's bytes are libprotobuf's (tests/support/event_encodings.hpp).
#include <filesystem>

#include <gtest/gtest.h>

#include "event_encodings.hpp"
#include "programs_fixture.hpp"
#include "sniffer/community_id.hpp"
#include "sniffer/pcap_reader.hpp"

namespace sniffer::test {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kTcTestRunMax = 1518;  // an Ethernet frame with a VLAN tag

// Every capture under tests/data/pcaps, in a stable order.
std::vector<fs::path> test_captures() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(SNIFFER_SOURCE_DIR) / "tests/data/pcaps")) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".pcap" || ext == ".pcapng")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST_F(ProgramsTest, TestCapturesRecordsEncodeAsLibprotobufDoes) {
  load({.payload_bytes = 64});
  configure();
  const InterfaceInfo lo{"lo", kLoopback, Role::Wan, Mode::Gateway};
  std::size_t events = 0, files = 0;
  EventWireBatch wire("sensor", 1764950400000000000ull, 1);
  for (const fs::path& file : test_captures()) {
    std::vector<Captured> records;  // the file's, kept: the events' snippets point into them
    PcapReader reader(file.string());
    PcapFrame frame;
    while (reader.next(frame)) {
      if (frame.caplen < 14) continue;  // BPF_PROG_TEST_RUN needs an Ethernet header
      const Bytes bytes(frame.data, frame.data + frame.caplen);
      for (Hook hook : {Hook::Xdp, Hook::TcEgress}) {
        // TC's test run takes a frame in one page: its larger ones go through XDP only.
        if (hook == Hook::TcEgress && bytes.size() > kTcTestRunMax) continue;
        run(hook, bytes);
        records.insert(records.end(), records_.begin(), records_.end());
      }
    }
    std::vector<EventInput> inputs(records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      const sniffer_record& r = records[i].header;
      inputs[i].record = DecodedRecord{r, records[i].snippet};
      inputs[i].iface = i % 3 == 0 ? nullptr : &lo;
      inputs[i].wall_ts_ns = 1764950400000000000ull + r.ts_mono_ns;
      const bool ip = (r.ip_version == 4 || r.ip_version == 6) && r.l3_hdr_len != 0;
      if (ip) inputs[i].community_id = community_id(community_id_tuple(r), 0);
    }
    // In batches of 256, as publish.batch_max_events' default.
    for (std::size_t at = 0; at < inputs.size(); at += 256) {
      const std::vector<EventInput> batch(inputs.begin() + static_cast<std::ptrdiff_t>(at),
                                          inputs.begin() + static_cast<std::ptrdiff_t>(std::min(at + 256, inputs.size())));
      expect_same_encodings(wire, batch, "sensor", 1764950400000000000ull, 1, file.filename().string());
    }
    events += inputs.size();
    files += !inputs.empty();
    if (HasFailure()) return;
  }
  EXPECT_GT(files, 20u);
  EXPECT_GT(events, 1000u);
}

}  // namespace
}  // namespace sniffer::test
