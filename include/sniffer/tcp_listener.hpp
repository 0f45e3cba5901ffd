// The listening socket of a TCP server (the metrics endpoint's): bound to
// HOST:PORT, non-blocking, close-on-exec; and the owner of a descriptor.
#pragma once

#include <unistd.h>

#include <string>
#include <utility>

#include "sniffer/error.hpp"

namespace sniffer {

// A file descriptor closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// A bind that failed. It passes (a server may try again later) when the
// address is not the host's yet (DHCP, a VRRP address) or the port is held by
// another user than root and ours (a squatter: endpoint_holders.hpp).
class BindError : public Error {
 public:
  BindError(const std::string& what, std::string reason, bool passing)
      : Error(what), reason_(std::move(reason)), passing_(passing) {}
  bool passing() const { return passing_; }
  // what() without the holders' processes (held_by_uids): whether a retry's failure is new (endpoint_retry.hpp).
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
  bool passing_;
};

// A socket listening on HOST:PORT (port 0: any free port), the first address
// of HOST that binds. Throws BindError naming the address, errno and (when it
// is taken) who holds the port if none does; Error if HOST does not resolve.
UniqueFd listen_tcp(const std::string& host, int port);

// The local port of a bound socket (the one the kernel chose for port 0).
int local_port(int fd);

}  // namespace sniffer
