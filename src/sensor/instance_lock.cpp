#include "sniffer/instance_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <set>
#include <vector>

#include "sniffer/config.hpp"  // normal_pin_path
#include "sniffer/sniffer_process.hpp"
#include "sniffer/sniffer_users.hpp"

namespace sniffer {

namespace {

// The pid written in the lock file by its holder, or "" when unreadable.
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.find_first_not_of("0123456789") == std::string::npos ? pid : std::string();
}

// True when `fd` is still the file at `path`: a holder that exits removes the
// file, so a lock taken on a file already removed protects nothing.
bool still_linked(int fd, const std::string& path) {
  struct stat by_fd {}, by_path {};
  return fstat(fd, &by_fd) == 0 && stat(path.c_str(), &by_path) == 0 && by_fd.st_dev == by_path.st_dev &&
         by_fd.st_ino == by_path.st_ino;
}

// The pin path with its symbolic links resolved: bpffs allows links, and a
// link to a running sensor's pin directory is that directory (a second sensor
// through one replaced, then removed, its pins). A link to a directory not
// made yet (dangling) stands for the path it names: the directory made
// meanwhile, the link's sensor pins there.
std::string resolved_pin_path(const std::string& pin_path) {
  namespace fs = std::filesystem;
  const fs::path normal = normal_pin_path(pin_path);
  fs::path path = normal;
  for (int links = 0; links < 40; ++links) {  // as many as the kernel follows (ELOOP)
    fs::path existing = path;
    std::vector<fs::path> missing;  // the components below `existing`, deepest first
    std::error_code ec;
    while (existing.has_relative_path() && !fs::exists(existing, ec) && !fs::is_symlink(existing, ec)) {
      missing.push_back(existing.filename());
      existing = existing.parent_path();
    }
    fs::path resolved;
    if (fs::exists(existing, ec)) {
      resolved = fs::canonical(existing, ec);
    } else {  // a dangling link: on from what it names
      const fs::path target = fs::read_symlink(existing, ec);
      resolved = (target.is_absolute() ? target : existing.parent_path() / target).lexically_normal();
    }
    if (ec) return normal.string();
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) resolved /= *it;
    if (fs::exists(existing, ec)) return resolved.string();
    path = resolved;
  }
  return normal.string();
}


// Write the holder's pid, for the refusal that names it.
bool write_pid(int fd) {
  const std::string pid = std::to_string(getpid()) + "\n";
  return ftruncate(fd, 0) == 0 && pwrite(fd, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

bool process_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// The effective uid of a live process, or nullopt when it is gone or hidden.
std::optional<uid_t> process_uid(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    unsigned long real = 0, effective = 0;
    if (fields >> real >> effective) return static_cast<uid_t>(effective);
  }
  return std::nullopt;
}

// A file others could have opened may be held by a user's process that then
// exec'd a setuid-root program (su waiting at its prompt, red team R18-13):
// root by uid, not a sensor. Its holder must run a sniffer as well. Only its
// owner and root could have opened a 0600 file: there the uid says it.
// `sensor_uid`: sensor_lock_holder() of the holder's uid.
bool holder_is_sensor(pid_t pid, bool sensor_uid, const struct stat& file) {
  return sensor_uid && (owner_only_file(file) || runs_sniffer(pid).value_or(process_alive(pid)));
}

// A 0600 file of root, ours or `sniffer`: one to use as it is (no one else
// may have opened it).
bool ours_private(const struct stat& file) { return owner_only_file(file) && sniffer_user(file.st_uid); }

// "pid 77 (uid 1000)"; "pid 77 (uid 0, running /usr/bin/su)" for a holder
// of a sensor's uid that runs something else.
std::string squatter_text(pid_t pid, uid_t uid, bool sensor_uid) {
  std::string text = "pid " + std::to_string(pid) + " (uid " + std::to_string(uid);
  if (sensor_uid) text += ", running " + executable_path(pid).value_or("something else");
  return text + ")";
}

// Who holds a file's flock, from /proc/locks (readable by all; not under the
// unit's ProcSubset=pid): a holder sensor_lock_holder() names (root, this
// user, `sniffer`, the lock directory's owner, a 0600 file's owner) and, for
// a file others could open, running a sniffer is a sensor; so is one whose
// owner cannot be seen (alive but hidden). A holder of another user, of
// another program, or one that is gone (its lock kept by a child it passed the
// descriptor to), is a squatter.
struct LockHolders {
  std::optional<pid_t> sensor;
  std::vector<std::string> squatters;  // "pid 77 (uid 1000)"
  std::string squatters_text() const {
    if (squatters.empty()) return "";  // free: a dead run's, nothing to warn of
    std::string text;
    for (const std::string& s : squatters) text += (text.empty() ? "" : ", ") + s;
    return "its lock is held by " + text + ", not a sniffer's";
  }
};

std::optional<LockHolders> flock_holders(const struct stat& file, uid_t directory_owner) {
  std::ifstream locks("/proc/locks");
  if (!locks) return std::nullopt;
  char wanted[64];
  std::snprintf(wanted, sizeof wanted, "%02x:%02x:%lu", major(file.st_dev), minor(file.st_dev),
                static_cast<unsigned long>(file.st_ino));
  LockHolders holders;
  std::set<pid_t> seen;  // a holder listed twice (seen in CI, a read racing a change) is named once
  std::string line;
  // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; a waiter's line has "->" after the number.
  while (std::getline(locks, line)) {
    std::istringstream fields(line);
    std::string number, type, advisory, mode, pid_text, device;
    if (!(fields >> number >> type >> advisory >> mode >> pid_text >> device) || type != "FLOCK" ||
        device != wanted) {
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::strtol(pid_text.c_str(), nullptr, 10));
    if (!seen.insert(pid).second) continue;
    const std::optional<uid_t> uid = pid > 0 ? process_uid(pid) : std::nullopt;
    const bool sensor_uid = uid && sensor_lock_holder(*uid, file, directory_owner);
    // An owner we cannot see (another pid namespace, hidden) may be a sensor's.
    if (uid ? holder_is_sensor(pid, sensor_uid, file) : (pid <= 0 || process_alive(pid))) {
      holders.sensor = pid;
      return holders;
    }
    holders.squatters.push_back(uid ? squatter_text(pid, *uid, sensor_uid) : "pid " + std::to_string(pid) + " (gone)");
  }
  return holders;
}

}  // namespace

std::string InstanceLock::file_name(const std::string& pin_path) {
  // One file per directory, however spelled ("//", "/./", "x/../"), as
  // systemd-escape --path simplifies the path first.
  const std::string trimmed = normal_pin_path(pin_path);
  std::size_t start = trimmed.find_first_not_of('/');
  std::string out;
  for (std::size_t i = start == std::string::npos ? trimmed.size() : start; i < trimmed.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(trimmed[i]);
    if (c == '/') {
      out += '-';
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               (c == '.' && !out.empty())) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return (out.empty() ? std::string("-") : out) + ".lock";
}

InstanceLock::InstanceLock(const std::string& pin_path, const std::string& directory) : pin_path_(pin_path) {
  if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error("lock directory " + directory + ": " + errno_text(errno));
  }
  struct stat dir {};
  if (stat(directory.c_str(), &dir) != 0) throw Error("lock directory " + directory + ": " + errno_text(errno));
  directory_owner_ = dir.st_uid;  // the unit's RuntimeDirectory= user: its holders are sensors
  locked_path_ = resolved_pin_path(pin_path);
  const std::string name = file_name(locked_path_);
  file_ = directory + "/" + name;
  staging_ = directory + "/." + name + ".new";  // a leading '.' is escaped in lock names: no clash
  // Again: between our open and our flock, an exiting holder may remove the
  // file we opened, or a start replace it. Busy: another start is replacing
  // it right now; a moment later its file is in place (and refuses us).
  int again = 0;
  for (int busy = 0; again < 10 && busy < 200;) {
    switch (try_once()) {
      case Step::Taken:
        return;
      case Step::Again:
        ++again;
        break;
      case Step::Busy:
        ++busy;
        usleep(10 * 1000);
        break;
    }
  }
  throw Error("lock file " + file_ + ": removed or re-created while taking it, " +
              std::string(again >= 10 ? "10 times in a row" : "for 2 s"));
}

void InstanceLock::refuse(const std::string& pid) const {
  throw AlreadyRunning("another sniffer (pid " + (pid.empty() ? std::string("unknown") : pid) + ") holds " +
                       pin_path_ + " (lock " + file_ + "): stop it first, or give this one another pin_path");
}

InstanceLock::Step InstanceLock::try_once() {
  int fd = open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  const bool writable = fd >= 0;
  // A file we may not write: a dead root run's, say (red team R16-5). Read
  // only, its lock tells whether its run is alive.
  if (!writable && errno == EACCES) fd = open(file_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && !writable && errno == ENOENT) return Step::Again;  // removed meanwhile
  struct stat leftover {};
  if (fd < 0 && errno == EACCES) {
    // Not even readable (root's 0600 file, a user without CAP_DAC_READ_SEARCH):
    // /proc/locks tells whether a sensor holds it.
    if (lstat(file_.c_str(), &leftover) != 0) {
      if (errno == ENOENT) return Step::Again;
      throw Error("lock file " + file_ + ": " + errno_text(errno));
    }
    const std::optional<LockHolders> holders = flock_holders(leftover, directory_owner_);
    if (!holders) {
      throw Error("lock file " + file_ + ": " + errno_text(EACCES) +
                  ", and /proc/locks cannot be read to tell whether its holder is alive");
    }
    if (holders->sensor) refuse(std::to_string(*holders->sensor));
    return replace(leftover, false, holders->squatters_text());
  }
  if (fd < 0) throw Error("lock file " + file_ + ": " + errno_text(errno));
  fstat(fd, &leftover);
  // Only its owner and root may have opened a 0600 file (made so from the
  // start, never widened): its holder is a sensor, whatever the owner's name
  // (a unit's User=). One of a sniffer_user's is ours to use as it is.
  const bool private_file = ours_private(leftover);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string pid = holder_pid(fd);
    const bool linked = still_linked(fd, file_);
    close(fd);
    if (err != EWOULDBLOCK) throw Error("lock file " + file_ + ": flock: " + errno_text(err));
    if (!linked) return Step::Again;  // its holder removed it: it is going, or replacing it
    if (owner_only_file(leftover)) refuse(pid);
    // A file others may have opened (an earlier version's 0644, say): its
    // holder may be a local user keeping it after its sensor died (R17-5).
    const std::optional<LockHolders> holders = flock_holders(leftover, directory_owner_);
    if (holders && holders->sensor) refuse(pid.empty() ? std::to_string(*holders->sensor) : pid);
    // No /proc/locks: a holder we cannot tell apart from a sensor is taken for one.
    const bool named_pid_alive =
        !pid.empty() && process_alive(static_cast<pid_t>(std::strtol(pid.c_str(), nullptr, 10)));
    if (!holders && (pid.empty() || named_pid_alive)) refuse(pid);
    return replace(leftover, false,
                   holders ? holders->squatters_text()
                           : "its lock is held, but not by pid " + pid + " that it names (gone), not a sniffer's");
  }
  // Ours. A start that is replacing this very file owns it from now: leave it that.
  if (private_file && replacement_in_progress()) {
    close(fd);
    return Step::Busy;
  }
  if (!still_linked(fd, file_)) {
    close(fd);
    return Step::Again;
  }
  if (!private_file || !writable) {  // holding its lock, a new file of ours replaces it
    const Step step = replace(leftover, true, "");
    close(fd);
    return step;
  }
  if (leftover.st_uid == geteuid()) fchmod(fd, 0600);  // a umask of 0177 or more left it unusable
  if (!write_pid(fd)) {
    const int err = errno;
    unlink(file_.c_str());
    close(fd);
    throw Error("lock file " + file_ + ": write pid: " + errno_text(err));
  }
  fd_ = fd;
  return Step::Taken;
}

// Every replacement of the lock file holds the lock of the staging file, which
// it then renames over the lock file: of two starts replacing one leftover,
// the second sees the first's file in place and is refused.
InstanceLock::Step InstanceLock::replace(const struct stat& leftover, bool holding_its_lock, const std::string& why) {
  const int fd = open(staging_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw Error("lock file " + file_ + ": to replace it, " + staging_ + ": " + errno_text(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) return Step::Busy;
    throw Error("lock file " + staging_ + ": flock: " + errno_text(err));
  }
  const auto give_up = [&] {  // still holding its lock: nobody else uses it
    unlink(staging_.c_str());
    close(fd);
  };
  struct stat staging {}, now {};
  if (!still_linked(fd, staging_)) {
    close(fd);
    return Step::Again;
  }
  fstat(fd, &staging);
  if (!ours_private(staging)) {
    give_up();  // a file others may have opened: made again
    return Step::Again;
  }
  if (lstat(file_.c_str(), &now) != 0 || now.st_dev != leftover.st_dev || now.st_ino != leftover.st_ino) {
    give_up();  // replaced or removed meanwhile: judged again
    return Step::Again;
  }
  if (!holding_its_lock) {  // a sensor may have taken it since it was judged
    const std::optional<LockHolders> holders = flock_holders(leftover, directory_owner_);
    if (holders && holders->sensor) {
      give_up();
      refuse(std::to_string(*holders->sensor));
    }
  }
  if (staging.st_uid == geteuid()) fchmod(fd, 0600);
  if (!write_pid(fd) || rename(staging_.c_str(), file_.c_str()) != 0) {
    const int err = errno;
    give_up();
    throw Error("lock file " + file_ + ": replace it with " + staging_ + ": " + errno_text(err));
  }
  if (!why.empty()) warning_ = "lock file " + file_ + ": " + why + ": replaced by a new file";
  fd_ = fd;
  return Step::Taken;
}

// True while another start holds the staging file (it is replacing the lock
// file). One that cannot be opened counts as held if /proc/locks says so.
bool InstanceLock::replacement_in_progress() const {
  const int fd = open(staging_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    struct stat staging {};
    if (errno != EACCES || lstat(staging_.c_str(), &staging) != 0) return false;
    const std::optional<LockHolders> holders = flock_holders(staging, directory_owner_);
    return holders && (holders->sensor || !holders->squatters.empty());
  }
  const bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  // Still holding the lock: nobody else can be using this file (unless a start
  // replaced it, taking us for a squatter: then it is theirs).
  if (still_linked(fd_, file_)) unlink(file_.c_str());
  close(fd_);
}

}  // namespace sniffer
