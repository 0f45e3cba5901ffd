// capture.full_packet_directory at start: the temporary files of captures a
// killed sensor left are removed, and nothing else; never while another
// sensor uses the directory.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/capture_directory.hpp"

namespace fs = std::filesystem;
using sniffer::CaptureDirectory;

TEST(CaptureDirectory, TemporaryNamesAreOnlyOursPattern) {
  EXPECT_TRUE(CaptureDirectory::temporary_name(".scan.pcapng.a1B2c3"));
  EXPECT_TRUE(CaptureDirectory::temporary_name(".x.Zz9999"));
  EXPECT_FALSE(CaptureDirectory::temporary_name("scan.pcapng"));
  EXPECT_FALSE(CaptureDirectory::temporary_name(".scan_pcapng"));          // no suffix
  EXPECT_FALSE(CaptureDirectory::temporary_name(".scan.pcapng.a1B2c"));    // 5, not 6
  EXPECT_FALSE(CaptureDirectory::temporary_name("..scan.pcapng.a1B2c3"));  // not a plain name inside
  EXPECT_FALSE(CaptureDirectory::temporary_name(".scan.pcapng.a1-2c3"));
  EXPECT_FALSE(CaptureDirectory::temporary_name(".ssh.Zz9999x"));
}

TEST(CaptureDirectory, LeftoversOfAKilledCaptureGoAndNothingElse) {
  TempDir dir("capture_directory");
  const fs::path target = dir.path / "elsewhere";
  std::ofstream(target) << "not ours";
  std::ofstream(dir.path / ".scan.pcapng.a1B2c3") << "half a capture";
  std::ofstream(dir.path / "scan.pcapng") << "a finished capture";
  std::ofstream(dir.path / ".notes") << "someone's";
  fs::create_symlink(target, dir.path / ".link.pcapng.Q1w2E3");  // the pattern, but a link: kept
  fs::create_directory(dir.path / ".dir.pcapng.Q1w2E4");          // the pattern, but a directory: kept
  CaptureDirectory captures(dir.path.string());
  EXPECT_FALSE(fs::exists(dir.path / ".scan.pcapng.a1B2c3"));
  EXPECT_TRUE(fs::exists(dir.path / "scan.pcapng"));
  EXPECT_TRUE(fs::exists(dir.path / ".notes"));
  EXPECT_TRUE(fs::is_symlink(dir.path / ".link.pcapng.Q1w2E3"));
  EXPECT_TRUE(fs::is_directory(dir.path / ".dir.pcapng.Q1w2E4"));
  EXPECT_TRUE(fs::exists(target));
}

TEST(CaptureDirectory, ADirectoryAnotherSensorUsesIsLeftAlone) {
  TempDir dir("capture_directory");
  CaptureDirectory running(dir.path.string());  // holds it shared, as a live sensor does
  std::ofstream(dir.path / ".live.pcapng.a1B2c3") << "being written";
  CaptureDirectory second(dir.path.string());
  EXPECT_TRUE(fs::exists(dir.path / ".live.pcapng.a1B2c3"));
}

TEST(CaptureDirectory, AMissingDirectoryIsMadeAndLockedAtTheFirstCapture) {
  TempDir dir("capture_directory");
  const fs::path path = dir.path / "a" / "captures";
  CaptureDirectory captures(path.string());
  EXPECT_FALSE(fs::exists(path));
  captures.prepare();
  EXPECT_TRUE(fs::is_directory(path));
  std::ofstream(path / ".live.pcapng.a1B2c3") << "being written";
  CaptureDirectory second(path.string());
  EXPECT_TRUE(fs::exists(path / ".live.pcapng.a1B2c3"));
}
