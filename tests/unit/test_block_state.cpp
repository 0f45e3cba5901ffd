// blocklist.state_file: the control socket's blocks, kept across restarts.
// The text round-trips; a bad file is named with what is wrong, set aside and
// never overwritten; one sensor per file.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/block_state.hpp"
#include "sniffer/block_state_writer.hpp"
#include "sniffer/control_client.hpp"

namespace fs = std::filesystem;
using sniffer::BlockRule;
using sniffer::BlockStateFile;

namespace {

BlockRule rule(const char* prefix, std::uint64_t expires_ns) {
  BlockRule r;
  r.prefix = sniffer::Prefix::parse(prefix);
  r.direction = sniffer::BlockDirection::Destination;
  r.action = sniffer::BlockAction::Count;
  r.created_wall_ns = 1'000;
  r.expires_wall_ns = expires_ns;
  r.expires_mono_ns = 77;  // not kept: monotonic time means nothing after a reboot
  r.reason = "port scan \"quoted\"";
  r.origin = "control: e2e (key abc, from 198.51.100.10)";
  return r;
}

std::string read(const fs::path& p) { return read_text(p); }

}  // namespace

TEST(BlockState, TextRoundTripsEveryFieldButTheMonotonicExpiry) {
  const auto rules =
      sniffer::parse_block_state(sniffer::block_state_text({rule("2001:db8::/48", 5'000), rule("203.0.113.7", 0)}));
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].prefix.text(), "2001:db8::/48");
  EXPECT_EQ(rules[0].direction, sniffer::BlockDirection::Destination);
  EXPECT_EQ(rules[0].action, sniffer::BlockAction::Count);
  EXPECT_EQ(rules[0].created_wall_ns, 1'000u);
  EXPECT_EQ(rules[0].expires_wall_ns, 5'000u);
  EXPECT_EQ(rules[0].expires_mono_ns, 0u);
  EXPECT_EQ(rules[0].reason, "port scan \"quoted\"");
  EXPECT_EQ(rules[0].origin, "control: e2e (key abc, from 198.51.100.10)");
  EXPECT_EQ(rules[1].prefix.text(), "203.0.113.7/32");
}

TEST(BlockState, ABadFileSaysWhatIsWrongAndWhere) {
  auto error = [](const std::string& text) {
    try {
      sniffer::parse_block_state(text);
    } catch (const sniffer::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("{\"format\": \"sniffer blo").find("not JSON"), std::string::npos);
  EXPECT_NE(error("[1]").find("not a blocklist state file"), std::string::npos);
  EXPECT_NE(error(R"({"format": "sniffer blocklist state", "version": 9, "entries": []})").find("version 9"),
            std::string::npos);
  std::string text = sniffer::block_state_text({rule("203.0.113.7", 0), rule("203.0.113.8", 0)});
  text.replace(text.find("203.0.113.8"), 11, "203.0.113.888");
  EXPECT_NE(error(text).find("entries[1].prefix: "), std::string::npos) << error(text);
  text = sniffer::block_state_text({rule("203.0.113.7", 0)});
  text.replace(text.find("\"dst\""), 5, "\"up\"");
  EXPECT_EQ(error(text), "entries[0].direction: \"up\", expected \"src\" or \"dst\"");
}

TEST(BlockState, SavedRulesLoadBackAndAMissingFileIsEmpty) {
  TempDir dir("block_state");
  const fs::path path = dir.path / "sub" / "blocklist.json";  // its directory is made
  BlockStateFile file(path.string());
  EXPECT_TRUE(file.load().rules.empty());
  file.save({rule("203.0.113.7", 9)});
  const auto loaded = file.load();
  ASSERT_EQ(loaded.rules.size(), 1u);
  EXPECT_EQ(loaded.rules[0].expires_wall_ns, 9u);
  EXPECT_TRUE(loaded.set_aside.empty());
}

TEST(BlockState, ACorruptFileIsSetAsideNamedAndNeverOverwritten) {
  TempDir dir("block_state");
  const fs::path path = dir.path / "blocklist.json";
  std::ofstream(path) << "{\"format\": \"sniffer blocklist state\", \"version\": 1, \"entries\": [";  // cut short
  BlockStateFile file(path.string());
  const auto loaded = file.load();
  EXPECT_TRUE(loaded.rules.empty());
  EXPECT_NE(loaded.problem.find("not JSON"), std::string::npos) << loaded.problem;
  ASSERT_FALSE(loaded.set_aside.empty());
  EXPECT_EQ(loaded.set_aside.rfind(path.string() + ".bad-", 0), 0u) << loaded.set_aside;
  EXPECT_NE(read(loaded.set_aside).find("\"entries\": ["), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
}

TEST(BlockState, BadFilesWithinOneSecondAreEachKept) {
  // The name has the second: the base renamed the second bad file over the first.
  TempDir dir("block_state");
  const fs::path path = dir.path / "blocklist.json";
  BlockStateFile file(path.string());
  std::vector<std::string> aside;
  for (int i = 0; i < 3; ++i) {  // microseconds apart: at least two within one second
    std::ofstream(path) << "bad " << i;
    aside.push_back(file.load().set_aside);
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(aside[i].rfind(path.string() + ".bad-", 0), 0u) << aside[i];
    EXPECT_EQ(read(aside[i]), "bad " + std::to_string(i)) << aside[i];
  }
  EXPECT_NE(aside[0], aside[1]);
  EXPECT_NE(aside[1], aside[2]);
}

TEST(BlockState, AFileThatCanBeNeitherReadNorMovedAsideStopsTheStart) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads and renames anything";
  TempDir dir("block_state");
  const fs::path sub = dir.path / "state";
  fs::create_directories(sub);
  const fs::path path = sub / "blocklist.json";
  std::ofstream(path) << "x";
  BlockStateFile file(path.string());
  chmod(path.c_str(), 0);
  chmod(sub.c_str(), 0500);  // no rename inside
  EXPECT_THROW(file.load(), sniffer::Error);
  chmod(sub.c_str(), 0700);
  EXPECT_TRUE(fs::exists(path));
}

TEST(BlockState, TwoSensorsNeverShareOneFile) {
  TempDir dir("block_state");
  const std::string path = (dir.path / "blocklist.json").string();
  {
    BlockStateFile first(path);
    try {
      BlockStateFile second(path);
      FAIL() << "a second holder took " << path;
    } catch (const sniffer::Error& e) {
      EXPECT_NE(std::string(e.what()).find("in use by another sniffer (pid " + std::to_string(getpid()) + ","),
                std::string::npos)
          << e.what();
    }
  }
  BlockStateFile again(path);  // released with its holder
}

// Red team R13-7: each writer killed mid-write (SIGKILL) left its temporary
// (".blocklist.json.XXXXXX", up to the file's size) for good.
TEST(BlockState, TheTemporariesOfDeadWritersAreRemovedWithTheLockHeld) {
  TempDir dir("block_state");
  const std::string path = (dir.path / "blocklist.json").string();
  for (const char* name : {".blocklist.json.P0tOFj", ".blocklist.json.45iimU", ".blocklist.json.toolong7",
                           ".other.json.X7EisW", "blocklist.json.bad-20261206T053000Z"}) {
    std::ofstream(dir.path / name) << "x";
  }
  std::filesystem::create_symlink("/etc/hostname", dir.path / ".blocklist.json.linkedX");
  BlockStateFile file(path);
  EXPECT_EQ(file.dead_temporaries(), 2u);
  EXPECT_TRUE(file.writable());
  EXPECT_FALSE(std::filesystem::exists(dir.path / ".blocklist.json.P0tOFj"));
  EXPECT_FALSE(std::filesystem::exists(dir.path / ".blocklist.json.45iimU"));
  for (const char* kept : {".blocklist.json.toolong7", ".other.json.X7EisW", "blocklist.json.bad-20261206T053000Z",
                           ".blocklist.json.linkedX"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(dir.path / kept))) << kept;
  }
}

TEST(BlockState, ADirectoryIsRefusedNamedAndLeftWhereItIs) {
  TempDir dir("block_state");
  const fs::path path = dir.path / "blocklist.json";
  fs::create_directories(path / "inside");
  try {
    BlockStateFile file(path.string());
    FAIL() << "a directory was taken for the state file";
  } catch (const sniffer::Error& e) {
    EXPECT_EQ(std::string(e.what()), "blocklist.state_file " + path.string() +
                                         ": a directory: it must name a regular file, or one that does not exist yet");
  }
  EXPECT_TRUE(fs::is_directory(path / "inside"));
  for (const auto& entry : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(entry.path().string().find(".bad-"), std::string::npos) << entry.path();
  }
}

TEST(BlockState, ALinkAndItsTargetShareOneLock) {
  TempDir dir("block_state");
  const fs::path real = dir.path / "real" / "blocklist.json";
  const fs::path link = dir.path / "link.json";
  fs::create_directories(real.parent_path());
  std::ofstream(real) << sniffer::block_state_text({rule("203.0.113.7", 9)});
  fs::create_symlink(real, link);
  BlockStateFile first(real.string());
  EXPECT_THROW(BlockStateFile second(link.string()), sniffer::Error);
  const fs::path dots = dir.path / "real" / ".." / "real" / "blocklist.json";
  EXPECT_THROW(BlockStateFile third(dots.string()), sniffer::Error);
  // A link to a file not written yet (the first sensor had no block so far).
  const fs::path later = dir.path / "real" / "later.json";
  BlockStateFile fourth(later.string());
  fs::create_symlink("real/later.json", dir.path / "dangling.json");
  EXPECT_THROW(BlockStateFile fifth((dir.path / "dangling.json").string()), sniffer::Error);
}

TEST(BlockState, TheTextIsCompact) {
  // 65,536 entries (the blocklist's capacity) were ~31 MB indented.
  const std::string text = sniffer::block_state_text({rule("203.0.113.7", 9), rule("2001:db8::/48", 9)});
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  EXPECT_NE(text.find("{\"action\":\"count\",\"created_ns\":1000,"), std::string::npos) << text;
}

TEST(BlockStateWriter, WritesOffTheCallersThreadKeepsTheLatestAndReportsFailures) {
  TempDir dir("block_state");
  const fs::path path = dir.path / "sub" / "blocklist.json";
  BlockStateFile file(path.string());
  {
    sniffer::BlockStateWriter writer(file);
    writer.submit({rule("203.0.113.7", 9)});
    writer.flush();
    EXPECT_FALSE(writer.busy());
    EXPECT_EQ(file.load().rules.size(), 1u);
    fs::remove_all(path.parent_path());  // the next write fails (as root too)
    writer.submit({rule("203.0.113.8", 9)});
    writer.flush();
    auto status = writer.status();
    EXPECT_TRUE(status.unsaved);
    EXPECT_EQ(status.failures, 1u);
    EXPECT_NE(status.last_error.find("blocklist.state_file " + path.string()), std::string::npos) << status.last_error;
    fs::create_directories(path.parent_path());
    for (int i = 0; i < 50; ++i) {
      writer.submit({rule("203.0.113.7", 9), rule(("198.51.100." + std::to_string(i)).c_str(), 9)});
    }
    // no flush: the destructor writes what is pending
  }
  const auto loaded = file.load().rules;
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[1].prefix.text(), "198.51.100.49/32");  // the latest state won
}

TEST(ControlClient, TerminalTextShowsControlBytesAsEscapes) {
  EXPECT_EQ(sniffer::terminal_text("port scan \"x\""), "port scan \"x\"");
  EXPECT_EQ(sniffer::terminal_text("evil\x1b[2J\nFAKE\x7f\xc3\xa9"), "evil\\x1b[2J\\x0aFAKE\\x7f\\xc3\\xa9");
}

TEST(BlockGuard, TheGenerationGrowsOnlyWhenTheGuardMayRefuseMore) {
  // A blocklist re-checks its control entries (once a second) only when this changes: at 65,536
  // entries each full check took ~80 ms of the packet thread.
  sniffer::BlockGuard guard;
  const auto sensor = [](const char* p) {
    return sniffer::ProtectedPrefix{sniffer::Prefix::parse(p), sniffer::RefusalReason::SensorAddress, "x"};
  };
  const std::uint64_t g0 = guard.generation();
  guard.set_protected(sniffer::RefusalReason::SensorAddress, {sensor("192.0.2.1")});
  const std::uint64_t g1 = guard.generation();
  EXPECT_GT(g1, g0);
  guard.set_protected(sniffer::RefusalReason::SensorAddress, {sensor("192.0.2.1")});  // a refresh, nothing new
  EXPECT_EQ(guard.generation(), g1);
  guard.add_control_client(sniffer::Prefix::parse("198.51.100.10"), "a");
  const std::uint64_t g2 = guard.generation();
  EXPECT_GT(g2, g1);
  guard.add_control_client(sniffer::Prefix::parse("198.51.100.10"), "renamed");
  EXPECT_EQ(guard.generation(), g2);
  guard.set_protected(sniffer::RefusalReason::SensorAddress, {sensor("192.0.2.1"), sensor("192.0.2.2")});
  EXPECT_GT(guard.generation(), g2);
}
