// The listening socket of a TCP server (the metrics endpoint's): bound to
// HOST:PORT, non-blocking, close-on-exec.
#pragma once

#include <unistd.h>

#include <string>
#include <utility>

#include "sniffer/error.hpp"
#include "sniffer/unique_fd.hpp"

namespace sniffer {

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
