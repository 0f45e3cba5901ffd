// The capture reader of the offline path (the fuzz seeds double as fixtures).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

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

// Every frame of `reader`, and how it ended.
struct ReadOut {
  std::vector<std::string> frames;  // time, lengths and bytes of each
  std::string error;
  std::uint64_t bytes_read = 0;
};

ReadOut read_all(PcapReader& reader) {
  ReadOut out;
  PcapFrame f;
  while (reader.next(f)) {
    out.frames.push_back(std::to_string(f.ts_ns) + " " + std::to_string(f.caplen) + " " +
                         std::to_string(f.wire_len) + " " +
                         std::string(reinterpret_cast<const char*>(f.data), f.caplen));
  }
  out.error = reader.error();
  out.bytes_read = reader.bytes_read();
  return out;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A capture read from its file (classic pcap: parsed directly) gives what
// libpcap alone gives (the same bytes from memory: no file descriptor, so
// libpcap reads every record).
void expect_same_as_libpcap(const std::string& path) {
  SCOPED_TRACE(path);
  std::string text = file_text(path);
  std::FILE* memory = fmemopen(text.data(), text.size(), "rb");
  ASSERT_NE(memory, nullptr);
  std::optional<ReadOut> direct, libpcap;
  try {
    PcapReader from_file(path);
    direct = read_all(from_file);
  } catch (const Error&) {
  }
  try {
    PcapReader from_memory(memory, path);
    libpcap = read_all(from_memory);
  } catch (const Error&) {
  }
  ASSERT_EQ(direct.has_value(), libpcap.has_value());  // both refuse the file, or both read it
  if (!direct) return;
  EXPECT_EQ(direct->frames, libpcap->frames);
  EXPECT_EQ(direct->error, libpcap->error);
  EXPECT_EQ(direct->bytes_read, libpcap->bytes_read);
  if (direct->error.empty()) {
    EXPECT_EQ(direct->bytes_read, text.size());
  }
}

TEST(PcapReader, ClassicFilesReadDirectlyAsLibpcapReadsThem) {
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(SNIFFER_SOURCE_DIR) +
                                                                         "/tests/data/pcaps")) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || (!path.ends_with(".pcap") && !path.ends_with(".pcapng"))) continue;
    expect_same_as_libpcap(path);
    ++files;
  }
  for (const char* seed : {"udp_tcp_cut.pcap", "nanosecond.pcap", "one_frame.pcapng"}) expect_same_as_libpcap(kSeeds + seed);
  EXPECT_GE(files, 40u);
}

// Records libpcap must judge: one longer than the file's snapshot length,
// then one cut short by the end of the file. libpcap takes over at the first
// and gives its frames and its error.
TEST(PcapReader, LibpcapTakesOverAtARecordItMustJudge) {
  auto u32 = [](std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  std::string file;
  u32(file, 0xa1b2c3d4);
  u32(file, 2 | (4u << 16));  // version 2.4
  u32(file, 0);
  u32(file, 0);
  u32(file, 100);  // snaplen
  u32(file, 1);    // Ethernet
  auto record = [&](std::uint32_t sec, std::uint32_t caplen, std::uint32_t stored) {
    u32(file, sec);
    u32(file, 7);
    u32(file, caplen);
    u32(file, caplen + 4);
    file.append(stored, static_cast<char>(sec));
  };
  record(1, 60, 60);
  record(2, 200, 200);  // above the snapshot length of 100
  record(3, 60, 60);
  record(4, 80, 30);  // the file ends inside it
  const std::string path = ::testing::TempDir() + "/sniffer_pcap_reader_take_over.pcap";
  std::ofstream(path, std::ios::binary) << file;
  expect_same_as_libpcap(path);
  PcapReader reader(path);
  const ReadOut out = read_all(reader);
  EXPECT_FALSE(out.frames.empty());
  EXPECT_FALSE(out.error.empty());
  std::remove(path.c_str());
}

// A file larger than the reader's steps (it maps the file, makes it resident
// ahead of the reader and releases it behind, in steps growing to 4 MiB):
// every record across the steps' edges as libpcap reads it, the last one cut
// short by the end of the file.
TEST(PcapReader, LargeFileReadAcrossMappingStepsAsLibpcapReadsIt) {
  auto u32 = [](std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); };
  std::string file;
  for (std::uint32_t v : {0xa1b2c3d4u, 2u | (4u << 16), 0u, 0u, 65535u, 1u}) u32(file, v);
  std::uint32_t n = 0;
  while (file.size() < (20u << 20)) {  // sizes 60 to 1559: records end at every offset in a page
    const std::uint32_t caplen = 60 + (n * 7919) % 1500;
    for (std::uint32_t v : {n / 1000, (n % 1000) * 1000, caplen, caplen}) u32(file, v);
    file.append(caplen, static_cast<char>(n++));
  }
  for (std::uint32_t v : {n, 0u, 1000u, 1000u}) u32(file, v);
  file.append(100, 'x');  // cut short
  const std::string path = ::testing::TempDir() + "/sniffer_pcap_reader_large.pcap";
  std::ofstream(path, std::ios::binary) << file;
  expect_same_as_libpcap(path);
  PcapReader reader(path);
  const ReadOut out = read_all(reader);
  EXPECT_EQ(out.frames.size(), n);
  EXPECT_FALSE(out.error.empty());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sniffer
