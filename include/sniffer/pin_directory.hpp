// The directory a sensor pins its maps in. bpffs is often world-writable
// (mounted without mode=, 1777): another user may place a link or a
// directory at the pin path, before the start or while it runs. So the
// directory is opened once, checked, and then used through its descriptor
// only: a name placed at the pin path later sends no pin elsewhere.
#pragma once

#include <string>

namespace sniffer {

class PinDirectory {
 public:
  // Makes `dir` (mode 0700) unless it exists, and opens it. Throws Error
  // ("pin_path DIR: ...", naming what is there and its owner) unless it is a
  // directory of root, us or "sniffer", reached through links and directories
  // only those can change, and, when `locked_path` is not empty, the very
  // directory the instance lock was named after. Warns when other users may
  // place names beside it (a world-writable parent).
  PinDirectory(const std::string& dir, const std::string& locked_path);
  ~PinDirectory();
  PinDirectory(const PinDirectory&) = delete;
  PinDirectory& operator=(const PinDirectory&) = delete;

  // "/proc/self/fd/N/NAME": the kernel resolves it through our descriptor,
  // whatever the pin path's name leads to meanwhile.
  std::string entry_path(const std::string& name) const;
  // "DIR/NAME", for messages.
  std::string shown_path(const std::string& name) const;
  // Removes the entry `name` (a pin an earlier run left); true when one was there.
  bool remove_entry(const std::string& name) const;
  // Removes the directory when empty, if its real path still names it.
  void remove_if_empty() const;

 private:
  std::string dir_;        // as configured
  std::string real_path_;  // where the descriptor's directory is
  int fd_ = -1;
};

}  // namespace sniffer
