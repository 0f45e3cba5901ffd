// InstanceLock: one holder per pin path, named in the refusal; released (and
// its file removed) when the holder goes.
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

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

// What a start as uid 65534 (root: dropped to it; else as itself) says:
// "ok" and the pid in the file it holds, or its error.
std::string start_as_other_user(const fs::path& locks) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(out[0]);
    std::string said;
    if (geteuid() == 0 && (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)) {
      said = "setresuid failed";
    } else {
      try {
        InstanceLock lock("/sys/fs/bpf/sniffer", locks.string());
        struct stat st {};
        said = "ok " + read_text(lock.file()) + (stat(lock.file().c_str(), &st) == 0 && st.st_uid == geteuid()
                                                      ? "owner ok" : "owner wrong");
        if (read_text(lock.file()) != std::to_string(getpid()) + "\n") said += " (not its pid)";
      } catch (const std::exception& e) {
        said = e.what();
      }
    }
    if (write(out[1], said.data(), said.size()) < 0) _exit(2);
    _exit(0);
  }
  close(out[1]);
  std::string said;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return said;
}

// Red team R16-5: a root run killed by SIGKILL leaves its root-owned 0644
// file in /run/sniffer; the unit (User=sniffer) could not open it for
// writing, and every start failed (Permission denied). A file this user may
// not write, its lock free, is a dead run's: it is made again, ours. Its
// lock held: the refusal names the holder, as for any other file.
TEST(InstanceLock, LeftoverFileThisUserMayNotWriteDoesNotBlockUnlessItsLockIsHeld) {
  TempDir dir("instance_lock");
  const fs::path locks = dir.path / "run";
  fs::create_directories(locks);
  const fs::path leftover = locks / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(leftover) << "4242\n";
  if (geteuid() == 0) {  // the directory the unit's user's, the file root's (root ignores mode bits)
    ASSERT_EQ(chown(dir.path.c_str(), 65534, 65534), 0);
    ASSERT_EQ(chown(locks.c_str(), 65534, 65534), 0);
    ASSERT_EQ(chmod(leftover.c_str(), 0644), 0);
  } else {
    ASSERT_EQ(chmod(leftover.c_str(), 0444), 0);
  }
  const int held = open(leftover.c_str(), O_RDONLY | O_CLOEXEC);  // a live holder of that file
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  const std::string refused = start_as_other_user(locks);
  EXPECT_NE(refused.find("another sniffer (pid 4242) holds /sys/fs/bpf/sniffer"), std::string::npos) << refused;
  EXPECT_TRUE(fs::exists(leftover));
  close(held);  // its run gone: the file is left, its lock free
  const std::string started = start_as_other_user(locks);
  EXPECT_EQ(started.rfind("ok ", 0), 0u) << started;
  EXPECT_NE(started.find("owner ok"), std::string::npos) << started;
  EXPECT_EQ(started.find("not its pid"), std::string::npos) << started;
  EXPECT_FALSE(fs::exists(leftover)) << "the start's own file outlived it";
}
