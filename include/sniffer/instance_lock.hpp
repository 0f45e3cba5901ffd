// One sensor per pin path: an exclusive flock(2) on a lock file named after
// the pin path under /run/sniffer, taken before the daemon touches anything
// shared (pins, ipc socket files, ports, interfaces) and held until it exits.
//
// The kernel drops the lock when its holder dies, even by SIGKILL, so a lock
// file left behind never blocks a start: only a live holder does. The file is
// mode 0600: flock(2) needs only a read-only descriptor, so a file others may
// open is a lock any local user can take and keep after the sensor dies (red
// team R17-5). A leftover others may have opened (another mode or owner), or
// that this user may not write (a killed root run's, under the unit's user,
// red team R16-5), is replaced by a new file renamed over it, unless a live
// sensor holds it: a process of root, this user, `sniffer`, the lock
// directory's owner, or a 0600 file's owner (red team R18-7); of a file others
// could have opened, one that also runs a sniffer (not a user's process that
// exec'd su, red team R18-13). The file holds the holder's pid, for the
// message that names it.
#pragma once

#include <sys/stat.h>

#include <string>

#include "sniffer/error.hpp"

namespace sniffer {

// Another live daemon holds the lock.
class AlreadyRunning : public Error {
 public:
  using Error::Error;
};

class InstanceLock {
 public:
  static constexpr const char* kDefaultDirectory = "/run/sniffer";

  // Takes the lock of `pin_path`, or throws AlreadyRunning ("another sniffer
  // (pid N) holds /sys/fs/bpf/sniffer") or Error (the directory or file could
  // not be made, with the errno text).
  InstanceLock(const std::string& pin_path, const std::string& directory = kDefaultDirectory);
  ~InstanceLock();  // removes the lock file, then releases the lock
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  const std::string& file() const { return file_; }

  // The pin directory the lock is named after: the pin path with its links
  // resolved when the lock was taken. The pins must go there, and nowhere a
  // link made since leads to.
  const std::string& locked_path() const { return locked_path_; }

  // What the start replaced, for the log: "" or "lock file ...: its lock is
  // held by pid 77 (uid 1000), not a sniffer's: replaced by a new file".
  const std::string& warning() const { return warning_; }

  // "sys-fs-bpf-sniffer\x2dlab.lock" for "/sys/fs/bpf/sniffer-lab": the path
  // escaped as systemd-escape --path does, so that no two paths share a file.
  static std::string file_name(const std::string& pin_path);

 private:
  enum class Step { Taken, Again, Busy };
  Step try_once();
  Step replace(const struct stat& leftover, bool holding_its_lock, const std::string& why);
  bool replacement_in_progress() const;
  [[noreturn]] void refuse(const std::string& pid) const;

  std::string pin_path_, file_;
  std::string locked_path_;
  std::string staging_;  // the new file while it replaces a leftover: one replacement at a time
  std::string warning_;
  uid_t directory_owner_ = 0;
  int fd_ = -1;
};

}  // namespace sniffer
