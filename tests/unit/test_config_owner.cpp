// Who else can change the config file (red team R18-1): not refused, said in
// one warning naming the file and what another user owns on its way.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/config_owner.hpp"

namespace fs = std::filesystem;
using sniffer::config_owner_warning;

namespace {

constexpr uid_t kOther = 65534;  // neither root nor us (root) nor `sniffer`

std::string other_user_text() {
  const passwd* entry = getpwuid(kOther);
  return "uid 65534 (" + std::string(entry != nullptr ? entry->pw_name : "no user of that uid") + ")";
}

const std::string kConsequence =
    ", who can change the sensor's configuration at the next reload; chown root or keep it where only root can write";

// A config file (root's, 0644 unless chowned or chmod'ed afterwards).
fs::path write_config(const fs::path& path) {
  std::ofstream(path) << "{}\n";
  chmod(path.c_str(), 0644);
  return path;
}

class ConfigOwnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "giving files to another user needs root";
  }
  TempDir dir{"config_owner"};
};

}  // namespace

TEST_F(ConfigOwnerTest, OnlyRootAndUsOnTheWayIsSaidNothing) {
  EXPECT_EQ(config_owner_warning(write_config(dir.path / "root.json")), "");
  // A group's write is the operator's choice (an admins' group): accepted silently.
  const fs::path group_writable = write_config(dir.path / "group.json");
  ASSERT_EQ(chmod(group_writable.c_str(), 0664), 0);
  EXPECT_EQ(config_owner_warning(group_writable), "");
}

TEST_F(ConfigOwnerTest, AFileOfAnotherUserIsNamedWithItsOwner) {
  const fs::path file = write_config(dir.path / "owned.json");
  ASSERT_EQ(chown(file.c_str(), kOther, kOther), 0);
  EXPECT_EQ(config_owner_warning(file),
            "config \"" + file.string() + "\": owned by " + other_user_text() + kConsequence);
}

TEST_F(ConfigOwnerTest, ADirectoryOfAnotherUserOnTheWayIsNamedOnce) {
  const fs::path theirs = dir.path / "theirs";
  fs::create_directories(theirs / "deeper");
  ASSERT_EQ(chown(theirs.c_str(), kOther, kOther), 0);
  const fs::path file = write_config(theirs / "deeper" / "c.json");
  // The directory below and the file theirs too: one warning, naming the first
  // item theirs from "/", which commands the rest.
  ASSERT_EQ(chown((theirs / "deeper").c_str(), kOther, kOther), 0);
  ASSERT_EQ(chown(file.c_str(), kOther, kOther), 0);
  EXPECT_EQ(config_owner_warning(file), "config \"" + file.string() + "\": the directory \"" + theirs.string() +
                                            "\" on its way is owned by " + other_user_text() + kConsequence);
}

TEST_F(ConfigOwnerTest, ARootFileInADirectoryOfAnotherUserIsNamedByTheDirectory) {
  const fs::path theirs = dir.path / "theirs";
  fs::create_directories(theirs);
  ASSERT_EQ(chown(theirs.c_str(), kOther, kOther), 0);
  const fs::path file = write_config(theirs / "c.json");  // root's, but they may replace it
  EXPECT_EQ(config_owner_warning(file), "config \"" + file.string() + "\": the directory \"" + theirs.string() +
                                            "\" on its way is owned by " + other_user_text() + kConsequence);
}

TEST_F(ConfigOwnerTest, TheFileALinkLeadsToIsJudgedToo) {
  fs::create_directories(dir.path / "theirs");
  const fs::path target = write_config(dir.path / "theirs" / "real.json");
  ASSERT_EQ(chown(target.c_str(), kOther, kOther), 0);
  fs::create_symlink(target, dir.path / "link.json");  // root's link in root's directory
  const std::string link = (dir.path / "link.json").string();
  EXPECT_EQ(config_owner_warning(link), "config \"" + link + "\": \"" + target.string() +
                                            "\", where it leads, is owned by " + other_user_text() + kConsequence);
}

TEST_F(ConfigOwnerTest, ALinkOfAnotherUserInAStickyDirectoryIsNamed) {
  const fs::path shared = dir.path / "shared";  // as /tmp
  fs::create_directories(shared);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  const fs::path target = write_config(dir.path / "root.json");
  fs::create_symlink(target, shared / "link.json");
  ASSERT_EQ(lchown((shared / "link.json").c_str(), kOther, kOther), 0);  // they may re-point it
  const std::string link = (shared / "link.json").string();
  EXPECT_EQ(config_owner_warning(link), "config \"" + link + "\": the link \"" + link + "\" on its way is owned by " +
                                            other_user_text() + kConsequence);
}

TEST_F(ConfigOwnerTest, TheFileNameIsEscaped) {
  const fs::path file = write_config(dir.path / "a\x1b[2Jb.json");
  ASSERT_EQ(chown(file.c_str(), kOther, kOther), 0);
  const std::string warning = config_owner_warning(file);
  EXPECT_NE(warning.find("a\\x1b[2Jb.json\": owned by "), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\x1b'), std::string::npos) << warning;
}

TEST_F(ConfigOwnerTest, APathThatCannotBeWalkedIsSaidNothing) {
  EXPECT_EQ(config_owner_warning((dir.path / "missing.json").string()), "");  // the read reports it
}
