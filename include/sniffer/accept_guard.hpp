// Accepting connections without ever taking the process's last descriptors.
//
// libzmq accepts the connections of a bound socket in its I/O thread, as fast
// as they come; the daemon's loop can cut a crowd only at its next turn, so a
// burst within one turn could reach RLIMIT_NOFILE, and at EMFILE libzmq
// 4.3.4's ipc listener asserts (ipc_listener.cpp: its errno_assert lists
// ENFILE, not EMFILE) and the daemon aborted. The sniffer executable routes
// accept() and accept4() (libzmq's and its own) through
// accept_keeping_headroom: a connection that would leave fewer than `reserve`
// descriptors free is closed at once (its peer sees the connection reset), and
// the caller sees ECONNABORTED, which libzmq and the metrics server take as a
// connection gone before it was accepted. EMFILE itself becomes ECONNABORTED too.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace sniffer {

// Descriptors an accepted connection must leave free (files, maps, libzmq's
// own sockets, the state file's rewrite, a control reply).
inline constexpr std::size_t kAcceptReserve = 64;

// accept4(2), refusing a connection that would leave fewer than `reserve`
// descriptors (at most an eighth of the limit) below RLIMIT_NOFILE (read at
// each call).
int accept_keeping_headroom(int listen_fd, sockaddr* addr, socklen_t* len, int flags, std::size_t reserve);

// Connections refused so far for want of descriptors (any thread).
std::uint64_t accepts_refused_for_descriptors();

}  // namespace sniffer
