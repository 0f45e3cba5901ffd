// InstanceLock: one holder per pin path, named in the refusal; released (and
// its file removed) when the holder goes.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/instance_lock.hpp"

namespace fs = std::filesystem;
using sniffer::AlreadyRunning;
using sniffer::InstanceLock;

TEST(InstanceLock, FileNameEscapesThePathAsSystemdDoes) {
  EXPECT_EQ(InstanceLock::file_name("/sys/fs/bpf/sniffer"), "sys-fs-bpf-sniffer.lock");
  EXPECT_EQ(InstanceLock::file_name("/sys/fs/bpf/sniffer-lab/"), "sys-fs-bpf-sniffer\\x2dlab.lock");
  // Two paths that a plain '/' -> '-' would merge stay apart.
  EXPECT_NE(InstanceLock::file_name("/sys/fs/bpf/a-b"), InstanceLock::file_name("/sys/fs/bpf/a/b"));
}

// One directory spelled otherwise ("//", "/./", "a/../") is one lock: else a
// second sensor takes its own lock and replaces the first one's live pins.
TEST(InstanceLock, FileNameIsTheSameForEverySpellingOfOneDirectory) {
  const std::string lock = InstanceLock::file_name("/sys/fs/bpf/redteam-a");
  for (const char* spelling : {"/sys/fs/bpf//redteam-a", "/sys/fs/bpf/./redteam-a", "/sys/fs/bpf/redteam-a/.",
                               "/sys/fs/bpf/x/../redteam-a", "//sys//fs/bpf/redteam-a//"}) {
    EXPECT_EQ(InstanceLock::file_name(spelling), lock) << spelling;
  }
}

TEST(InstanceLock, SecondHolderIsRefusedNamingTheFirst) {
  TempDir dir("instance_lock");
  std::optional<InstanceLock> first;
  first.emplace("/sys/fs/bpf/sniffer", dir.path.string());
  std::ifstream pid_file(first->file());
  std::string pid;
  pid_file >> pid;
  EXPECT_EQ(pid, std::to_string(getpid()));
  try {
    InstanceLock second("/sys/fs/bpf/sniffer", dir.path.string());
    FAIL() << "two holders of one pin path";
  } catch (const AlreadyRunning& e) {
    EXPECT_NE(std::string(e.what()).find("another sniffer (pid " + pid + ") holds /sys/fs/bpf/sniffer"),
              std::string::npos)
        << e.what();
  }
  InstanceLock other_path("/sys/fs/bpf/other", dir.path.string());  // another pin path: its own lock

  const std::string file = first->file();
  first.reset();
  EXPECT_FALSE(fs::exists(file)) << "the lock file outlived its holder";
  InstanceLock again("/sys/fs/bpf/sniffer", dir.path.string());  // free again
}

TEST(InstanceLock, ADanglingLinkIsTheLockOfTheDirectoryItNames) {
  // The base took the link's own lock: once the directory was made, two
  // sensors pinned into it, each under a lock of its own.
  TempDir dir("instance_lock");
  const std::string locks = (dir.path / "locks").string();
  const fs::path target = dir.path / "pins" / "sensor";  // not made yet
  fs::create_symlink(target, dir.path / "link");
  fs::create_symlink("pins/sensor", dir.path / "relative-link");
  fs::create_symlink("relative-link", dir.path / "link-to-link");
  InstanceLock first((dir.path / "link").string(), locks);
  for (const fs::path& other : {target, dir.path / "relative-link", dir.path / "link-to-link"}) {
    EXPECT_THROW(InstanceLock(other.string(), locks), AlreadyRunning) << other;
  }
  fs::create_directories(target);  // made: one lock still
  EXPECT_THROW(InstanceLock(target.string(), locks), AlreadyRunning);
  InstanceLock elsewhere((dir.path / "pins" / "other").string(), locks);
}

TEST(InstanceLock, LeftoverFileOfADeadHolderDoesNotBlock) {
  TempDir dir("instance_lock");
  // What a SIGKILLed daemon leaves: the file with its pid, and no lock on it.
  std::ofstream(dir.path / InstanceLock::file_name("/sys/fs/bpf/sniffer")) << "999999\n";
  InstanceLock lock("/sys/fs/bpf/sniffer", dir.path.string());
  std::ifstream in(lock.file());
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(getpid()));
}
