#include "sniffer/tcp_listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "sniffer/error.hpp"
#include "sniffer/endpoint_holders.hpp"

namespace sniffer {

UniqueFd listen_tcp(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result);
  if (rc != 0) throw Error("cannot resolve " + where + ": " + ::gai_strerror(rc));
  UniqueFd listening;
  int err = 0;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      err = errno;
      continue;
    }
    // SO_REUSEADDR only (no SO_REUSEPORT, which would let a second daemon
    // silently share the port).
    int yes = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) {
      err = errno;
      continue;
    }
    listening = std::move(fd);
    break;
  }
  ::freeaddrinfo(result);
  if (listening.get() < 0) {
    const std::vector<EndpointHolder> holders = err == EADDRINUSE ? tcp_port_holders(port) : std::vector<EndpointHolder>{};
    const std::string failure = "cannot bind " + where + ": " + errno_text(err);
    throw BindError(failure + held_by(holders), failure + held_by_uids(holders), bind_may_wait(err, holders));
  }
  return listening;
}

int local_port(int fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace sniffer
