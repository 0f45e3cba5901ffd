// One sensor per pin path: an exclusive flock(2) on a lock file named after
// the pin path under /run/sniffer, taken before the daemon touches anything
// shared (pins, ipc socket files, ports, interfaces) and held until it exits.
//
// The kernel drops the lock when its holder dies, even by SIGKILL, so a lock
// file left behind never blocks a start: only a live holder does. A file left
// that this user may not write (a killed root run's, under the unit's user) is
// locked read-only, then removed and made again (red team R16-5). The file
// holds the holder's pid, for the message that names it.
#pragma once

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

  // "sys-fs-bpf-sniffer\x2dlab.lock" for "/sys/fs/bpf/sniffer-lab": the path
  // escaped as systemd-escape --path does, so that no two paths share a file.
  static std::string file_name(const std::string& pin_path);

 private:
  std::string pin_path_, file_;
  int fd_ = -1;
};

}  // namespace sniffer
