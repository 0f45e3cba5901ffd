// --read-pcap's progress bar and summary line: the text for given counts.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sniffer/offline_progress.hpp"
#include "temp_dir.hpp"

namespace sniffer {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

TEST(OfflineProgress, UnitsOfBytesRatesAndDurations) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(5 * 1024 * kMiB), "5.0 GiB");
  EXPECT_EQ(format_rate(0), "0");
  EXPECT_EQ(format_rate(812.4), "812");
  EXPECT_EQ(format_rate(25'900), "25.9 k");
  EXPECT_EQ(format_rate(2'104'000), "2.10 M");
  EXPECT_EQ(format_duration(7), "0:07");
  EXPECT_EQ(format_duration(725), "12:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
}

TEST(OfflineProgress, AKnownTotalGivesPercentAndEta) {
  const ProgressSnapshot at{.bytes_read = 50 * kMiB, .bytes_total = 200 * kMiB, .files_done = 1, .files_total = 4,
                            .packets = 100'000, .flows = 1234, .elapsed_s = 2};
  // 25 MiB/s: the 150 MiB left take 6 s.
  EXPECT_EQ(progress_line(at),
            "50.0 MiB / 200.0 MiB (25%)  files 1/4  25.0 MiB/s  50.0 k packets/s  1234 flows  ETA 0:06");
}

TEST(OfflineProgress, PercentNeverRoundsUpToDoneAndStaysWithinTheTotal) {
  ProgressSnapshot at{.bytes_read = 199, .bytes_total = 200, .files_total = 1, .elapsed_s = 1};
  EXPECT_NE(progress_line(at).find("(99%)"), std::string::npos) << progress_line(at);
  at.bytes_read = 250;  // a file that grew while read
  EXPECT_NE(progress_line(at).find("(100%)  "), std::string::npos) << progress_line(at);
  EXPECT_NE(progress_line(at).find("ETA 0:00"), std::string::npos) << progress_line(at);
}

TEST(OfflineProgress, NoRateYetGivesNoEta) {
  const ProgressSnapshot at{.bytes_read = 0, .bytes_total = kMiB, .files_total = 1, .elapsed_s = 0};
  EXPECT_EQ(progress_line(at), "0 B / 1.0 MiB (0%)  files 0/1  0 B/s  0 packets/s  0 flows  ETA --");
}

TEST(OfflineProgress, StandardInputHasNoTotalSoNoPercentNorEta) {
  const ProgressSnapshot at{.bytes_read = 3 * kMiB, .files_done = 0, .files_total = 1, .packets = 4096,
                            .flows = 7, .elapsed_s = 0.5};
  EXPECT_EQ(progress_line(at), "3.0 MiB  files 0/1  6.0 MiB/s  8.2 k packets/s  7 flows");
}

TEST(OfflineProgress, TheSummaryLine) {
  EXPECT_EQ(summary_line({.packets = 13'486, .files = 43, .elapsed_s = 0.5, .flows = 900, .peak_rss_bytes = 50 * kMiB}),
            "sniffer: 13486 packets from 43 files in 0.50 s (27.0 k packets/s), 900 flows, peak RSS 50.0 MiB");
  EXPECT_EQ(summary_line({.packets = 0, .files = 1, .elapsed_s = 0, .flows = 0, .peak_rss_bytes = 1024}),
            "sniffer: 0 packets from 1 file in 0.00 s (0 packets/s), 0 flows, peak RSS 1.0 KiB");
}

TEST(OfflineProgress, TheTotalIsTheFilesSizesUnlessOneIsNotARegularFile) {
  TempDir dir("offline_progress");
  std::ofstream(dir.path / "a.pcap") << std::string(100, 'x');
  std::ofstream(dir.path / "b.pcap") << std::string(23, 'x');
  const std::string a = dir.path / "a.pcap", b = dir.path / "b.pcap";
  EXPECT_EQ(capture_bytes_total({a, b}), 123u);
  EXPECT_EQ(capture_bytes_total({a, "-"}), std::nullopt);
  EXPECT_EQ(capture_bytes_total({"/dev/null"}), std::nullopt);
}

TEST(OfflineProgress, PeakRssIsThisProcesssResidentSet) {
  // A test binary is resident for more than a megabyte and less than a few GiB.
  EXPECT_GT(peak_rss_bytes(), kMiB);
  EXPECT_LT(peak_rss_bytes(), 4096 * kMiB);
}

}  // namespace
}  // namespace sniffer
