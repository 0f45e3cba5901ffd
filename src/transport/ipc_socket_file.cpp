#include "sniffer/ipc_socket_file.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

enum class Listener { Nobody, Live, Unknown };

// Connects to the socket at `path`: a live listener accepts (or its backlog
// is full); a stale file refuses. `pid` is the listener's, when known.
Listener probe(const std::string& path, pid_t& pid, int& err) {
  pid = 0;
  err = 0;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return Listener::Unknown;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  Listener result = Listener::Unknown;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) pid = cred.pid;
    result = Listener::Live;
  } else if (errno == EAGAIN || errno == EINPROGRESS) {
    result = Listener::Live;  // listening, backlog full
  } else if (errno == ECONNREFUSED) {
    result = Listener::Nobody;
  } else {
    err = errno;
  }
  close(fd);
  return result;
}

}  // namespace

std::string IpcSocketFile::path_of(const std::string& endpoint) {
  const std::string scheme = "ipc://";
  if (endpoint.rfind(scheme, 0) != 0) return {};
  std::string path = endpoint.substr(scheme.size());
  if (path.empty() || path[0] == '@') return {};  // abstract: no file
  return path;
}

IpcSocketFile::IpcSocketFile(const std::string& endpoint, const std::string& key) : path_(path_of(endpoint)) {
  if (path_.empty()) return;
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw Error(key + " \"" + endpoint + "\": " + errno_text(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw Error(key + " \"" + endpoint + "\": " + path_ + " exists and is not a socket: refusing to replace it");
  }
  pid_t pid = 0;
  int err = 0;
  switch (probe(path_, pid, err)) {
    case Listener::Live:
      throw Error(key + " \"" + endpoint + "\": the socket file is in use by a live process" +
                  (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                  ": refusing to take it over (is another sniffer running with this endpoint?)");
    case Listener::Unknown:
      throw Error(key + " \"" + endpoint + "\": cannot tell whether a process listens on " + path_ + ": " +
                  errno_text(err));
    case Listener::Nobody:
      if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
        throw Error(key + " \"" + endpoint + "\": remove the stale socket file: " + errno_text(errno));
      }
      spdlog::info("{}: removed a stale socket file {} (nobody listened on it)", key, path_);
      return;
  }
}

void IpcSocketFile::bound() {
  if (path_.empty()) return;
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0) return;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  owned_ = true;
}

IpcSocketFile::~IpcSocketFile() {
  if (!owned_) return;
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) unlink(path_.c_str());
}

}  // namespace sniffer
