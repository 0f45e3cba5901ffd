// Who holds a local endpoint the sensor wants to bind, as any process may see
// it: a TCP port (/proc/net/tcp and tcp6: listening sockets) or an abstract
// unix name (sock_diag). Any local user may take a port above 1023 or an
// abstract name before the sensor does: such a squatter must not keep it off
// the wire, while a port held by root or by our own user is a clash of
// configuration (another service, a second sensor) and stays an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sniffer {

// A socket that holds an endpoint: its owner, and its inode, by which its
// process is found (/proc/PID/fd links "socket:[INODE]").
struct EndpointHolder {
  std::uint32_t uid = 0;
  std::uint64_t inode = 0;
};

// The sockets listening on `port` (any address).
std::vector<EndpointHolder> tcp_port_holders(int port);
// The sockets bound to the abstract unix `name` (no leading NUL).
std::vector<EndpointHolder> abstract_name_holders(const std::string& name);
// ", held by uid U (pid P, COMM)[, uid V]" (a pid when a process of this pid
// namespace that we may look at has the socket open; COMM, which the holder
// chooses, as terminal_text() shows it), or empty when none is known.
std::string held_by(const std::vector<EndpointHolder>& holders);
// The same without the processes (", held by uid U[, uid V]"): what a holder
// cannot change at will, where its pid and name it can (rename itself, bind
// from a new process), so what says whether a holder is a new one.
std::string held_by_uids(const std::vector<EndpointHolder>& holders);
// Whether one of them is root or our own user.
bool held_by_us(const std::vector<EndpointHolder>& holders);

// Whether a server whose bind failed with `err` may run without the endpoint
// and bind it later: its address is not the host's yet (EADDRNOTAVAIL), or
// it is held (EADDRINUSE) by none of root and us (`holders`).
bool bind_may_wait(int err, const std::vector<EndpointHolder>& holders);
// How often such a bind is tried again.
constexpr std::uint64_t kRebindSeconds = 5;

}  // namespace sniffer
