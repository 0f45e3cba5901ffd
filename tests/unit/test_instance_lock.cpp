// InstanceLock: one holder per pin path, named in the refusal; released (and
// its file removed) when the holder goes.
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "temp_dir.hpp"

#include "sniffer/instance_lock.hpp"
#include "sniffer/sniffer_users.hpp"

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

namespace {

// A process of `uid` (root: dropped to it) that opens `file` read-only and
// holds its flock until the returned pipe is closed: a local user keeping a
// lock, as red team R17-5's. Returns its pid and the pipe, once it holds it.
struct Squatter {
  pid_t pid = -1;
  int release = -1;
  std::string said;
  ~Squatter() {
    if (release >= 0) close(release);
    if (pid > 0) waitpid(pid, nullptr, 0);
  }
};

void squat(Squatter& squatter, const fs::path& file, uid_t uid) {
  int ready[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  squatter.pid = fork();
  if (squatter.pid == 0) {
    close(ready[0]);
    close(release[1]);
    std::string said = "held";
    if (uid != geteuid() && (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)) said = "setresuid failed";
    const int fd = said == "held" ? open(file.c_str(), O_RDONLY | O_CLOEXEC) : -1;
    if (said == "held" && (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0)) said = std::string("no lock: ") + strerror(errno);
    if (write(ready[1], said.data(), said.size()) < 0) _exit(2);
    close(ready[1]);
    char c;
    while (read(release[0], &c, 1) > 0) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  squatter.release = release[1];
  char buf[256];
  const ssize_t n = read(ready[0], buf, sizeof buf);
  close(ready[0]);
  squatter.said.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::string mode_and_owner(const std::string& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) return "missing";
  char text[64];
  std::snprintf(text, sizeof text, "%04o uid %u", st.st_mode & 07777, st.st_uid);
  return text;
}

ino_t inode(const fs::path& file) {
  struct stat st {};
  return stat(file.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

// Red team R17-5: the file was 0644, and flock needs only a read-only
// descriptor: any local user took the lock the moment the sensor died and
// kept every restart out. Made 0600 whatever the umask, nobody else opens it.
TEST(InstanceLock, TheLockFileIsPrivateWhateverTheUmask) {
  TempDir dir("instance_lock");
  ASSERT_EQ(chmod(dir.path.c_str(), 0755), 0);  // as /run/sniffer: others may search it
  const mode_t umask_before = umask(0);
  std::optional<InstanceLock> lock;
  lock.emplace("/sys/fs/bpf/sniffer", dir.path.string());
  umask(umask_before);
  EXPECT_EQ(mode_and_owner(lock->file()), "0600 uid " + std::to_string(geteuid()));
  if (geteuid() != 0) GTEST_SKIP() << "another user's open needs root";
  Squatter squatter;
  squat(squatter, lock->file(), 65534);
  EXPECT_EQ(squatter.said, "no lock: Permission denied");
}

// A leftover others may open (an earlier version's 0644 file, its sensor
// killed) that another user's process holds is not a sensor's: the start warns
// naming it and goes on with a new file; the squatter's lock is on a file no
// longer linked, which no start looks at.
TEST(InstanceLock, ALeftoverHeldByAnotherUserIsReplacedNamingIt) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's process needs root";
  TempDir dir("instance_lock");
  ASSERT_EQ(chmod(dir.path.c_str(), 0755), 0);
  const fs::path leftover = dir.path / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(leftover) << "4242\n";
  ASSERT_EQ(chmod(leftover.c_str(), 0644), 0);
  const ino_t squatted = inode(leftover);
  Squatter squatter;
  squat(squatter, leftover, 12345);
  ASSERT_EQ(squatter.said, "held");
  std::optional<InstanceLock> lock;
  try {
    lock.emplace("/sys/fs/bpf/sniffer", dir.path.string());
  } catch (const std::exception& e) {
    FAIL() << "a squatter kept the sensor out: " << e.what();
  }
  EXPECT_NE(lock->warning().find("held by pid " + std::to_string(squatter.pid) + " (uid 12345), not a sniffer's"),
            std::string::npos)
      << lock->warning();
  EXPECT_NE(inode(leftover), squatted);
  EXPECT_EQ(mode_and_owner(lock->file()), "0600 uid 0");
  EXPECT_EQ(read_text(lock->file()), std::to_string(getpid()) + "\n");
  EXPECT_THROW(InstanceLock("/sys/fs/bpf/sniffer", dir.path.string()), AlreadyRunning);
  const std::string file = lock->file();
  lock.reset();
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(dir.path / ("." + InstanceLock::file_name("/sys/fs/bpf/sniffer") + ".new")));
}

// The same leftover held by a process of this user (a sensor of the earlier
// version, still running) is a sensor's: refused, and left as it was.
TEST(InstanceLock, ALeftoverOthersMayOpenHeldByASensorUserStillRefuses) {
  TempDir dir("instance_lock");
  const fs::path leftover = dir.path / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(leftover) << "4242\n";
  ASSERT_EQ(chmod(leftover.c_str(), 0644), 0);
  const ino_t held = inode(leftover);
  Squatter sensor;
  squat(sensor, leftover, geteuid());
  ASSERT_EQ(sensor.said, "held");
  try {
    InstanceLock second("/sys/fs/bpf/sniffer", dir.path.string());
    FAIL() << "took the lock of a live sensor's file";
  } catch (const AlreadyRunning& e) {
    EXPECT_NE(std::string(e.what()).find("another sniffer (pid 4242) holds"), std::string::npos) << e.what();
  }
  EXPECT_EQ(inode(leftover), held);
}

// Root's 0600 leftover, met by a user who may not even read it: /proc/locks
// tells whether a sensor holds it (refused, naming that holder) or nobody
// does (replaced, the starting user's). The base refused "Permission denied".
TEST(InstanceLock, ALeftoverThisUserCannotOpenIsJudgedByWhoHoldsIt) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's start needs root";
  TempDir dir("instance_lock");
  const fs::path locks = dir.path / "run";
  fs::create_directories(locks);
  ASSERT_EQ(chown(dir.path.c_str(), 65534, 65534), 0);
  ASSERT_EQ(chown(locks.c_str(), 65534, 65534), 0);
  const fs::path leftover = locks / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(leftover) << "4242\n";
  ASSERT_EQ(chmod(leftover.c_str(), 0600), 0);
  const int held = open(leftover.c_str(), O_RDONLY | O_CLOEXEC);  // a live root sensor
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  const std::string refused = start_as_other_user(locks);
  EXPECT_NE(refused.find("another sniffer (pid " + std::to_string(getpid()) + ") holds /sys/fs/bpf/sniffer"),
            std::string::npos)
      << refused;
  close(held);  // killed: the file is left, its lock free
  const std::string started = start_as_other_user(locks);
  EXPECT_EQ(started.rfind("ok ", 0), 0u) << started;
  EXPECT_NE(started.find("owner ok"), std::string::npos) << started;
  EXPECT_FALSE(fs::exists(leftover)) << "the start's own file outlived it";
}

// Starts racing to replace one squatted leftover: exactly one wins each time
// (the replacement goes through the staging file's lock; renaming blindly over
// the path, two starts could each rename theirs and both run).
TEST(InstanceLock, StartsRacingOverASquattedLeftoverHaveOneWinner) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's process needs root";
  constexpr int kStarts = 6;
  for (int round = 0; round < 40; ++round) {
    TempDir dir("instance_lock");
    ASSERT_EQ(chmod(dir.path.c_str(), 0755), 0);
    const fs::path leftover = dir.path / InstanceLock::file_name("/sys/fs/bpf/sniffer");
    std::ofstream(leftover) << "4242\n";
    ASSERT_EQ(chmod(leftover.c_str(), 0644), 0);
    Squatter squatter;
    squat(squatter, leftover, 12345);
    ASSERT_EQ(squatter.said, "held");
    int go[2], results[2], done[2];
    ASSERT_EQ(pipe(go), 0);
    ASSERT_EQ(pipe(results), 0);
    ASSERT_EQ(pipe(done), 0);
    std::vector<pid_t> starts;
    for (int i = 0; i < kStarts; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        close(go[1]);
        close(results[0]);
        close(done[1]);
        char c;
        while (read(go[0], &c, 1) > 0) {
        }
        char said = 'e';
        std::optional<InstanceLock> lock;
        try {
          lock.emplace("/sys/fs/bpf/sniffer", dir.path.string());
          said = 'w';
        } catch (const AlreadyRunning&) {
          said = 'r';
        } catch (const std::exception&) {
        }
        if (write(results[1], &said, 1) != 1) _exit(2);
        while (read(done[0], &c, 1) > 0) {  // winners hold until every start has answered
        }
        _exit(0);
      }
      starts.push_back(pid);
    }
    close(go[0]);
    close(results[1]);
    close(done[0]);
    close(go[1]);  // all at once
    std::string said;
    char c;
    while (static_cast<int>(said.size()) < kStarts && read(results[0], &c, 1) == 1) said += c;
    close(done[1]);
    close(results[0]);
    for (const pid_t pid : starts) waitpid(pid, nullptr, 0);
    EXPECT_EQ(std::count(said.begin(), said.end(), 'w'), 1) << "round " << round << ": " << said;
    EXPECT_EQ(std::count(said.begin(), said.end(), 'r'), kStarts - 1) << "round " << round << ": " << said;
  }
}

namespace {

struct stat lock_file_stat(mode_t mode, uid_t owner) {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = owner;
  return st;
}

}  // namespace

// Red team R18-7: who holds a lock file is a sensor by who could have opened
// it, not by the name of its account: the unit may run as any User=.
TEST(InstanceLock, AHolderIsASensorByWhoCouldHaveOpenedTheFile) {
  using sniffer::sensor_lock_holder;
  const uid_t service = 4000, other = 5000;  // neither root nor us nor `sniffer`
  ASSERT_NE(geteuid(), service);
  ASSERT_NE(geteuid(), other);
  // Root and us hold any file as sensors.
  EXPECT_TRUE(sensor_lock_holder(0, lock_file_stat(S_IFREG | 0644, other), other));
  EXPECT_TRUE(sensor_lock_holder(geteuid(), lock_file_stat(S_IFREG | 0644, other), other));
  // The owner of a 0600 file: only it and root could have opened it.
  EXPECT_TRUE(sensor_lock_holder(service, lock_file_stat(S_IFREG | 0600, service), 0));
  // The lock directory's owner: the unit's RuntimeDirectory= user.
  EXPECT_TRUE(sensor_lock_holder(service, lock_file_stat(S_IFREG | 0644, 0), service));
  // Another user holding a file others may open: a squatter (R17-5), even its owner.
  EXPECT_FALSE(sensor_lock_holder(other, lock_file_stat(S_IFREG | 0644, 0), service));
  EXPECT_FALSE(sensor_lock_holder(other, lock_file_stat(S_IFREG | 0644, other), service));
  EXPECT_FALSE(sensor_lock_holder(other, lock_file_stat(S_IFREG | 0640, other), 0));
  // A 0600 file is no sign for anyone but its owner; a directory is no lock file.
  EXPECT_FALSE(sensor_lock_holder(other, lock_file_stat(S_IFREG | 0600, service), service));
  EXPECT_FALSE(sensor_lock_holder(other, lock_file_stat(S_IFDIR | 0600, other), 0));
}

namespace {

// A lock file of `owner` and `mode`, its pid 4242, in a directory of
// `directory_owner`, held by a process of `holder`.
struct HeldLock {
  fs::path file;
  ino_t inode = 0;
  Squatter holder;
};

void hold_lock_file(HeldLock& held, const fs::path& dir, uid_t directory_owner, uid_t owner, mode_t mode,
                    uid_t holder) {
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  ASSERT_EQ(chown(dir.c_str(), directory_owner, directory_owner), 0);
  held.file = dir / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(held.file) << "4242\n";
  ASSERT_EQ(chown(held.file.c_str(), owner, owner), 0);
  ASSERT_EQ(chmod(held.file.c_str(), mode), 0);
  held.inode = inode(held.file);
  squat(held.holder, held.file, holder);
  ASSERT_EQ(held.holder.said, "held");
}

// What a start (root) in `dir` says: "started[, its warning]" or its refusal.
std::string start_over(const fs::path& dir) {
  try {
    InstanceLock lock("/sys/fs/bpf/sniffer", dir.string());
    return "started" + (lock.warning().empty() ? std::string() : ", " + lock.warning());
  } catch (const AlreadyRunning& e) {
    return e.what();
  }
}

}  // namespace

// Red team R18-7: a sensor run as a user not named "sniffer" (the e2e
// harness's, a unit's User=) holds its 0600 file in the directory it owns; a
// root start took it for a squatter's, replaced the file and the live pins.
TEST(InstanceLock, ALiveSensorOfAServiceUserOfAnyNameIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's process needs root";
  const uid_t service = 4000;
  const std::string refused = "another sniffer (pid 4242) holds /sys/fs/bpf/sniffer";
  {  // its 0600 file, even in a directory of root's: only it (or root) could have opened it
    TempDir dir("instance_lock");
    HeldLock held;
    hold_lock_file(held, dir.path, 0, service, 0600, service);
    const std::string said = start_over(dir.path);
    EXPECT_NE(said.find(refused), std::string::npos) << said;
    EXPECT_EQ(inode(held.file), held.inode) << "the live sensor's lock file was replaced";
  }
  {  // a file others may open, in the directory it owns (RuntimeDirectory=)
    TempDir dir("instance_lock");
    HeldLock held;
    hold_lock_file(held, dir.path, service, service, 0644, service);
    const std::string said = start_over(dir.path);
    EXPECT_NE(said.find(refused), std::string::npos) << said;
    EXPECT_EQ(inode(held.file), held.inode) << "the live sensor's lock file was replaced";
  }
}

// Round 17 stays: in the service user's directory, another user holding a
// file others may open is a squatter: replaced, named in the warning.
TEST(InstanceLock, AnotherUserHoldingALockFileInTheServiceUsersDirectoryIsStillASquatter) {
  if (geteuid() != 0) GTEST_SKIP() << "another user's process needs root";
  const uid_t service = 4000, other = 12345;
  TempDir dir("instance_lock");
  HeldLock held;
  hold_lock_file(held, dir.path, service, service, 0644, other);
  const std::string said = start_over(dir.path);
  EXPECT_NE(said.find("started, lock file "), std::string::npos) << said;
  EXPECT_NE(said.find("held by pid " + std::to_string(held.holder.pid) + " (uid 12345), not a sniffer's"),
            std::string::npos)
      << said;
}

namespace {

// A process that takes `file`'s lock, then execs `program` (as `name`, its
// comm) keeping the descriptor: red team R18-13's holder, a user's process
// that became su waiting at its password prompt. Killed at the end.
struct ExecdHolder {
  pid_t pid = -1;
  ~ExecdHolder() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

void hold_then_exec(ExecdHolder& holder, const fs::path& file, const fs::path& program) {
  int execd[2];
  ASSERT_EQ(pipe2(execd, O_CLOEXEC), 0);  // its end closes at the exec
  holder.pid = fork();
  if (holder.pid == 0) {
    close(execd[0]);
    const int fd = open(file.c_str(), O_RDONLY);  // kept across the exec
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) _exit(3);
    execl(program.c_str(), program.filename().c_str(), "60", static_cast<char*>(nullptr));
    _exit(4);
  }
  close(execd[1]);
  char c;
  ASSERT_EQ(read(execd[0], &c, 1), 0);
  close(execd[0]);
  ASSERT_EQ(waitpid(holder.pid, nullptr, WNOHANG), 0) << "it could not take the lock, or exec";
}

// A leftover of `mode` (its pid 4242) held by a process of ours that exec'd
// sleep through a link named "sniffer" (its comm: a name proves nothing):
// what a start says (start_over).
std::string start_over_a_holder_running_sleep(mode_t mode, pid_t& holder_pid) {
  TempDir dir("instance_lock");
  EXPECT_EQ(chmod(dir.path.c_str(), 0755), 0);
  const fs::path file = dir.path / InstanceLock::file_name("/sys/fs/bpf/sniffer");
  std::ofstream(file) << "4242\n";
  EXPECT_EQ(chmod(file.c_str(), mode), 0);
  const fs::path named_sniffer = dir.path / "sniffer";
  fs::create_symlink(fs::canonical("/bin/sleep"), named_sniffer);
  ExecdHolder holder;
  hold_then_exec(holder, file, named_sniffer);
  holder_pid = holder.pid;
  return start_over(dir.path);
}

}  // namespace

// Red team R18-13: over a leftover others could have opened (an earlier
// version's 0644), a user took the lock and exec'd a setuid-root program that
// waits (su at its prompt): a holder of uid 0, so "a sensor", and every start
// was refused naming the file's dead pid. A holder of such a file must run a
// sniffer as well: this one is a squatter, named with what it runs.
TEST(InstanceLock, ALeftoverOthersMayOpenHeldByAProcessThatIsNotASnifferIsReplaced) {
  pid_t holder = -1;
  const std::string said = start_over_a_holder_running_sleep(0644, holder);
  EXPECT_NE(said.find("started, lock file "), std::string::npos) << said;
  EXPECT_NE(said.find("its lock is held by pid " + std::to_string(holder) + " (uid " + std::to_string(geteuid()) +
                      ", running " + fs::canonical("/bin/sleep").string() + "), not a sniffer's: replaced by a new file"),
            std::string::npos)
      << said;
}

// Only its owner and root could have opened a 0600 file: whatever its holder
// runs, it is a sensor's (a root holder that is not a sniffer could only be
// root's own doing).
TEST(InstanceLock, APrivateLockFileHeldByAProcessThatIsNotASnifferStillRefuses) {
  pid_t holder = -1;
  const std::string said = start_over_a_holder_running_sleep(0600, holder);
  EXPECT_NE(said.find("another sniffer (pid 4242) holds /sys/fs/bpf/sniffer"), std::string::npos) << said;
}
