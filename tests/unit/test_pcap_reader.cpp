// The capture reader of the offline path (the fuzz seeds double as fixtures).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "sniffer/error.hpp"
#include "sniffer/pcap_reader.hpp"

namespace sniffer {
namespace {

const std::string kSeeds = std::string(SNIFFER_SOURCE_DIR) + "/tests/fuzz/corpus/pcap/";

TEST(PcapReader, FramesTimestampsAndCutFrames) {
  PcapReader reader(kSeeds + "udp_tcp_cut.pcap");
  PcapFrame f;
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f.ts_ns, 1'700'000'000'000'000'000ull);
  EXPECT_EQ(f.caplen, f.wire_len);
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f.ts_ns, 1'700'000'001'000'500'000ull);  // microsecond file: 500 us
  ASSERT_TRUE(reader.next(f));
  EXPECT_EQ(f.wire_len, f.caplen + 10);  // captured shorter than on the wire
  EXPECT_FALSE(reader.next(f));
  EXPECT_TRUE(reader.error().empty());
}

TEST(PcapReader, NanosecondFilesAndPcapng) {
  PcapFrame f;
  PcapReader nano(kSeeds + "nanosecond.pcap");
  ASSERT_TRUE(nano.next(f));
  EXPECT_EQ(f.ts_ns, 1'700'000'000'000'000'000ull);
  PcapReader ng(kSeeds + "one_frame.pcapng");
  ASSERT_TRUE(ng.next(f));
  EXPECT_EQ(f.caplen, 47u);
}

TEST(PcapReader, NotACaptureIsAnErrorNamingTheFile) {
  const std::string text = "this is not a capture file";
  std::FILE* stream = fmemopen(const_cast<char*>(text.data()), text.size(), "rb");
  ASSERT_NE(stream, nullptr);
  try {
    PcapReader reader(stream, "notes.txt");
    FAIL() << "a text file was read as a capture";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PcapReader("/nonexistent.pcap"), Error);
}

}  // namespace
}  // namespace sniffer
