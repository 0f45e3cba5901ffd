// The socket file of an ipc:// endpoint, guarded. ZeroMQ removes whatever is
// at the path before it binds, so a second sensor would silently take over
// the socket file of a running one; and it leaves the file behind at close.
// This guard checks the path before the bind and removes the file at exit.
#pragma once

#include <sys/types.h>

#include <string>

namespace sniffer {

class IpcSocketFile {
 public:
  // For an ipc:// endpoint with a file path (other endpoints: nothing to do).
  // Throws an Error naming `key` (e.g. "publish.endpoint") when the path is a
  // socket a live process listens on (its pid, from SO_PEERCRED) or is not a
  // socket at all; a stale socket file (nobody listening) is removed.
  IpcSocketFile(const std::string& endpoint, const std::string& key);
  ~IpcSocketFile();  // removes the socket file if it is still the one bound
  IpcSocketFile(const IpcSocketFile&) = delete;
  IpcSocketFile& operator=(const IpcSocketFile&) = delete;

  // After a successful bind: the file is ours, to remove at exit.
  void bound();

  // The file path of an ipc:// endpoint, or "" (not ipc, or abstract "@name").
  static std::string path_of(const std::string& endpoint);

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  bool owned_ = false;
};

}  // namespace sniffer
