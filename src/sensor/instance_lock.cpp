#include "sniffer/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "sniffer/config.hpp"  // normal_pin_path

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
  file_ = directory + "/" + file_name(resolved_pin_path(pin_path));
  // A few tries: between our open and our flock, an exiting holder may remove
  // the file we opened, or a start replace a dead run's file we may not write.
  for (int attempt = 0; attempt < 10; ++attempt) {
    int fd = open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    // A file we may not write: a dead root run's, say (red team R16-5). Read
    // only, its lock tells whether its run is alive.
    const bool read_only = fd < 0 && errno == EACCES;
    if (read_only) fd = open(file_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && read_only && errno == ENOENT) continue;  // removed meanwhile
    if (fd < 0) throw Error("lock file " + file_ + ": " + errno_text(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string pid = holder_pid(fd);
      const bool linked = still_linked(fd, file_);
      close(fd);
      if (err == EWOULDBLOCK && !linked) continue;  // its holder removed it: it is going, or replacing it
      if (err == EWOULDBLOCK) {
        throw AlreadyRunning("another sniffer (pid " + (pid.empty() ? std::string("unknown") : pid) + ") holds " +
                             pin_path + " (lock " + file_ + "): stop it first, or give this one another pin_path");
      }
      throw Error("lock file " + file_ + ": flock: " + errno_text(err));
    }
    if (!still_linked(fd, file_)) {
      close(fd);
      continue;
    }
    if (read_only) {  // its run is gone (its lock was free, and now is ours): made again, ours
      const int err = unlink(file_.c_str()) == 0 ? 0 : errno;
      close(fd);
      if (err == 0) continue;
      throw Error("lock file " + file_ + ": not writable, and cannot be removed: " + errno_text(err));
    }
    fchmod(fd, 0644);  // whatever the umask: a start as another user can read it (and its lock)
    const std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      const int err = errno;
      unlink(file_.c_str());
      close(fd);
      throw Error("lock file " + file_ + ": write pid: " + errno_text(err));
    }
    fd_ = fd;
    return;
  }
  throw Error("lock file " + file_ + ": removed or re-created while taking it, 10 times in a row");
}

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  unlink(file_.c_str());  // still holding the lock: nobody else can be using this file
  close(fd_);
}

}  // namespace sniffer
