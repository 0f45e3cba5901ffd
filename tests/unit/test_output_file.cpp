// OutputFile: a regular file appears whole or not at all; devices and pipes
// are written directly; every error names the path and the errno text.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/error.hpp"
#include "sniffer/output_file.hpp"

namespace fs = std::filesystem;
using sniffer::OutputFile;

namespace {

std::string read(const fs::path& p) { return read_text(p); }

}  // namespace

TEST(OutputFile, RegularFileAppearsOnlyAtCommit) {
  TempDir dir("output_file");
  const fs::path target = dir.path / "flows.csv";
  {
    OutputFile out(target.string(), "--write-csv");
    EXPECT_FALSE(out.direct());
    out.write("a,b\n");
    out.write(std::string(200000, 'x'));  // past the buffer: written to the temporary file
    EXPECT_FALSE(fs::exists(target));
    out.commit();
  }
  EXPECT_EQ(read(target).size(), 4u + 200000u);
  EXPECT_EQ(dir.entries(), 1u) << "no temporary file left";
}

TEST(OutputFile, AbandonedWriteKeepsThePreviousFileAndLeavesNoTemporary) {
  TempDir dir("output_file");
  const fs::path target = dir.path / "flows.csv";
  std::ofstream(target) << "old complete table\n";
  {
    OutputFile out(target.string(), "--write-csv");
    out.write(std::string(100000, 'y'));
    // destroyed without commit(): as when a later write failed
  }
  EXPECT_EQ(read(target), "old complete table\n");
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(OutputFile, DeviceIsWrittenDirectlyAndAFullOneFailsNamingPathAndErrno) {
  OutputFile null("/dev/null", "--write-csv");
  EXPECT_TRUE(null.direct());
  null.write("fine\n");
  null.commit();
  EXPECT_TRUE(fs::is_character_file("/dev/null")) << "a device node must never be replaced";

  OutputFile full("/dev/full", "--write-csv");
  EXPECT_TRUE(full.direct());
  full.write("row\n");
  try {
    full.commit();
    FAIL() << "writing /dev/full succeeded";
  } catch (const sniffer::Error& e) {
    EXPECT_STREQ(e.what(), "--write-csv /dev/full: write: No space left on device (errno 28)");
  }
}

TEST(OutputFile, FifoIsWrittenDirectly) {
  TempDir dir("output_file");
  const fs::path fifo = dir.path / "pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // so the writer's open does not block
  ASSERT_GE(reader, 0);
  {
    OutputFile out(fifo.string(), "--write-csv");
    EXPECT_TRUE(out.direct());
    out.write("through the pipe\n");
    out.commit();
  }
  char buf[64] = {};
  EXPECT_EQ(::read(reader, buf, sizeof(buf)), 17);
  EXPECT_STREQ(buf, "through the pipe\n");
  close(reader);
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST(OutputFile, SymlinkToARegularFileKeepsTheLink) {
  TempDir dir("output_file");
  const fs::path real = dir.path / "real.csv", link = dir.path / "link.csv";
  std::ofstream(real) << "old\n";
  fs::create_symlink(real, link);
  {
    OutputFile out(link.string(), "--write-csv");
    out.write("new\n");
    out.commit();
  }
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read(real), "new\n");
}

TEST(OutputFile, MissingDirectoryIsAnErrorNamingThePath) {
  try {
    OutputFile out("/nonexistent-dir/flows.csv", "--write-csv");
    FAIL() << "opened a file in a missing directory";
  } catch (const sniffer::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--write-csv /nonexistent-dir/flows.csv: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

// A file past its first 8 MiB write-back range switches to a 1 MiB buffer:
// every byte, written through room()/wrote() and write() in pieces of every
// size across the switch, lands once and in order.
TEST(OutputFile, LargeFileKeepsEveryByteAcrossTheBufferSwitch) {
  TempDir dir("output_file");
  const fs::path target = dir.path / "flows.csv";
  std::string expected;
  {
    OutputFile out(target.string(), "--write-csv");
    std::uint32_t x = 12345;
    while (expected.size() < (20u << 20)) {
      x = x * 1664525u + 1013904223u;
      const std::size_t n = 1 + (x >> 8) % (x % 5 == 0 ? 200000 : 3000);
      std::string piece(n, static_cast<char>('a' + x % 26));
      piece.back() = '\n';
      if (x % 2) {
        out.write(piece);
      } else {
        char* at = out.room(n + 100);  // more room than used
        std::memcpy(at, piece.data(), n);
        out.wrote(n);
      }
      expected += piece;
    }
    out.commit();
  }
  const std::string got = read(target);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
}

// bypass_page_cache(): past its first write-back range the file is written
// with O_DIRECT by the file's writer thread, whole blocks from two buffers in
// turn, the bytes short of a block carried to the next flush, the last ones
// through the page cache at commit: every byte lands once and in order.
TEST(OutputFile, UncachedLargeFileKeepsEveryByteAndBypassesThePageCache) {
  TempDir dir("output_file");
  const fs::path target = dir.path / "flows.csv";
  std::string expected;
  bool went_uncached = false;
  {
    OutputFile out(target.string(), "--write-csv");
    out.bypass_page_cache();
    std::uint32_t x = 777;
    while (expected.size() < (24u << 20) + 1234) {
      x = x * 1664525u + 1013904223u;
      const std::size_t n = 1 + (x >> 8) % (x % 7 == 0 ? 3000000 : 3000);  // some rows past a buffer
      std::string piece(n, static_cast<char>('a' + x % 26));
      piece.back() = '\n';
      if (x % 2) {
        out.write(piece);
      } else {
        char* at = out.room(n + 100);
        std::memcpy(at, piece.data(), n);
        out.wrote(n);
      }
      expected += piece;
      went_uncached = went_uncached || out.uncached();
    }
    out.commit();
    EXPECT_FALSE(out.uncached());  // the last bytes went through the page cache
  }
  EXPECT_TRUE(went_uncached) << "O_DIRECT never set (a file system that refuses it?)";
  const std::string got = read(target);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);  // no temporary left
}

// Abandoned while its writer thread may be writing: no temporary left behind.
TEST(OutputFile, UncachedFileAbandonedLeavesNoTemporary) {
  TempDir dir("output_file");
  {
    OutputFile out((dir.path / "flows.csv").string(), "--write-csv");
    out.bypass_page_cache();
    const std::string piece(100000, 'x');
    for (int i = 0; i < 200; ++i) out.write(piece);
    EXPECT_TRUE(out.uncached());
  }
  EXPECT_TRUE(fs::is_empty(dir.path));
}

// A capture's file (NewOnly): a name planted while it is written (a
// symbolic link to a file the daemon may write as root, or a plain file) is
// neither followed nor replaced when it stops. rename(2) replaced it.
TEST(OutputFile, NewOnlyNeverReplacesNorFollowsANamePlantedMeanwhile) {
  TempDir dir("output_file");
  const fs::path victim = dir.path / "victim";
  std::ofstream(victim) << "keep me";
  for (const bool as_link : {true, false}) {
    const fs::path target = dir.path / (as_link ? "capture-link.pcapng" : "capture-file.pcapng");
    OutputFile out(target.string(), "capture file", OutputFile::Mode::NewOnly);
    out.write("packets");
    if (as_link) fs::create_symlink(victim, target);
    else std::ofstream(target) << "planted";
    try {
      out.commit();
      FAIL() << "commit replaced " << target;
    } catch (const sniffer::Error& e) {
      // Linked (O_TMPFILE) or renamed (a named temporary file) into place: never over a name.
      EXPECT_NE(std::string(e.what()).find(" into place (never over an existing name): File exists"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(read(victim), "keep me");
    EXPECT_EQ(as_link ? fs::is_symlink(target) : read(target) == "planted", true);
  }
}

TEST(OutputFile, NewOnlyRefusesAnExistingNameAtOnce) {
  TempDir dir("output_file");
  const fs::path target = dir.path / "taken.pcapng";
  fs::create_symlink(dir.path / "nowhere", target);  // dangling: open() would create its target
  EXPECT_THROW(OutputFile(target.string(), "capture file", OutputFile::Mode::NewOnly), sniffer::Error);
  EXPECT_EQ(dir.entries(), 1u);
}

// R18-2: another user's real directory in a shared sticky directory (as
// /tmp/out) passes the check; swapped for their link to a directory of their
// choice while the table is written, the commit went through the link. Now
// the table is named and renamed in the directory opened at the start.
TEST(OutputFile, ADirectorySwappedForALinkMeanwhileIsNotFollowedAtCommit) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's directory and link need root to make";
  TempDir dir("output_file");
  const fs::path shared = dir.path / "shared", theirs = shared / "theirs", victim = dir.path / "victim";
  fs::create_directories(theirs);
  fs::create_directory(victim);
  fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  OutputFile out((theirs / "flows.csv").string(), "--write-csv");
  out.write("a,b\n");
  fs::rename(theirs, shared / "theirs.old");
  fs::create_directory_symlink(victim, theirs);
  ASSERT_EQ(lchown(theirs.c_str(), 65534, 65534), 0);
  out.commit();
  EXPECT_TRUE(fs::is_empty(victim));
  EXPECT_EQ(read(shared / "theirs.old" / "flows.csv"), "a,b\n");
}
