// An accepted connection never takes the process's last descriptors: at the
// headroom the connection is closed at once and the caller sees ECONNABORTED
// (libzmq 4.3.4's ipc listener aborts the process on EMFILE).
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/accept_guard.hpp"

namespace sniffer {
namespace {

// A listening abstract unix socket of this test's own, and `count` clients
// connected to it.
struct Listener {
  int fd = -1;
  std::vector<int> clients;
};

Listener listener_with_clients(const std::string& tag, int count) {
  Listener l;
  l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT_GE(l.fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "sniffer-test-accept-" + tag + "-" + std::to_string(getpid());
  name.copy(addr.sun_path + 1, sizeof addr.sun_path - 2);
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  EXPECT_EQ(bind(l.fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(listen(l.fd, 64), 0);
  for (int i = 0; i < count; ++i) {
    l.clients.push_back(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(connect(l.clients.back(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  }
  return l;
}

TEST(AcceptGuard, ConnectionsThatWouldLeaveTooFewDescriptorsAreClosedAtOnce) {
  auto [listener, clients] = listener_with_clients("guard", 4);
  // Room for exactly one more descriptor above a reserve of 4 (under a limit
  // of at least 32: the reserve is at most an eighth of it).
  std::vector<int> filler;
  while (filler.size() < 40) filler.push_back(dup(0));
  const int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free) + 4 + 1;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const std::uint64_t refused_before = accepts_refused_for_descriptors();
  std::vector<int> accepted, errors;
  for (int i = 0; i < 8; ++i) {
    const int fd = accept_keeping_headroom(listener, nullptr, nullptr, SOCK_CLOEXEC, 4);
    if (fd >= 0) accepted.push_back(fd);
    else errors.push_back(errno);
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0], lowest_free);
  // Three refused (each taken off the queue), then the queue is empty.
  ASSERT_EQ(errors.size(), 7u);
  for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], i < 3 ? ECONNABORTED : EAGAIN) << i;
  EXPECT_EQ(accepts_refused_for_descriptors() - refused_before, 3u);
  // The refused peers see their connection closed; the first one's is open.
  char byte;
  for (std::size_t i = 1; i < clients.size(); ++i) EXPECT_EQ(recv(clients[i], &byte, 1, MSG_DONTWAIT), 0) << i;
  EXPECT_EQ(recv(clients[0], &byte, 1, MSG_DONTWAIT), -1);
  for (int fd : clients) close(fd);
  for (int fd : accepted) close(fd);
  for (int fd : filler) close(fd);
  close(listener);
}

// Red team R15-7: under a limit of 100 the daemon's own ~60 descriptors and a
// reserve of 64 left no connection at all; the reserve is at most an eighth.
TEST(AcceptGuard, ALowLimitStillLeavesRoomForConnections) {
  auto [listener, clients] = listener_with_clients("low", 32);
  std::vector<int> taken;  // the daemon's own descriptors: every number below 60
  while (taken.empty() || taken.back() < 59) taken.push_back(dup(0));
  ASSERT_EQ(taken.back(), 59);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 100;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> accepted;
  for (int i = 0; i < 32; ++i) {
    const int fd = accept_keeping_headroom(listener, nullptr, nullptr, SOCK_CLOEXEC, kAcceptReserve);
    if (fd >= 0) accepted.push_back(fd);
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  // Descriptors 60..87, below 100 - 100 / 8 (a reserve of 64 left none).
  EXPECT_EQ(accepted.size(), 28u);
  for (int fd : clients) close(fd);
  for (int fd : accepted) close(fd);
  for (int fd : taken) close(fd);
  close(listener);
}

}  // namespace
}  // namespace sniffer
