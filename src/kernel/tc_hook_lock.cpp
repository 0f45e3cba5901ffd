#include "sniffer/tc_hook_lock.hpp"

#include "sniffer/abstract_sockets.hpp"
#include "sniffer/sniffer_users.hpp"

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <thread>

namespace sniffer {

namespace {

struct Address {
  sockaddr_un addr{};
  socklen_t length = 0;
};

Address address_of(const std::string& name) {
  Address a;
  a.addr.sun_family = AF_UNIX;
  name.copy(a.addr.sun_path + 1, sizeof a.addr.sun_path - 2);  // sun_path[0] = 0: abstract
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

std::string name_of(const ucred& c) {
  return (c.pid ? "pid " + std::to_string(c.pid) : std::string("a process in another pid namespace")) + " (uid " +
         std::to_string(c.uid) + ")";
}

}  // namespace

TcHookLock::TcHookLock(std::uint32_t ifindex, bool ingress)
    : name_(std::string("sniffer-tc/") + std::to_string(ifindex) + (ingress ? "/ingress" : "/egress")) {
  take();
}

TcHookLock::~TcHookLock() {
  if (fd_ >= 0) close(fd_);
  if (mark_fd_ >= 0) close(mark_fd_);
}

namespace {

// A listening socket bound to the abstract `name`, or -errno.
int listen_on(const std::string& name, int backlog) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const Address a = address_of(name);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.length) != 0 || listen(fd, backlog) != 0) {
    const int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

// Connects once to `name` and reads who listens there (SO_PEERCRED): 0,
// ECONNREFUSED (bound, not listening), EAGAIN (its backlog is full) or
// another errno.
int ask(const std::string& name, ucred& cred) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  const Address a = address_of(name);
  socklen_t size = sizeof cred;
  int err = connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.length) == 0 ? 0 : errno;
  if (err == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) err = errno;
  close(fd);
  return err;
}

}  // namespace

bool TcHookLock::take() {
  if (fd_ >= 0) return true;
  // A backlog for a few refused sniffers asking at once between two drains.
  const int fd = listen_on(name_, 16);
  error_ = fd < 0 ? fd : 0;
  if (fd < 0) return false;
  fd_ = fd;
  if (mark_fd_ >= 0) close(mark_fd_);  // the lock says it all now
  mark_fd_ = -1;
  mark_name_.clear();
  return true;
}

int TcHookLock::mark() {
  if (mark_fd_ >= 0) return 0;
  std::uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce) return -errno;
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, "/%016llx", static_cast<unsigned long long>(nonce));
  const int fd = listen_on(name_ + suffix, 1);
  if (fd < 0) return fd;
  mark_fd_ = fd;
  mark_name_ = name_ + suffix;
  return 0;
}

std::string TcHookLock::other_mark(int& error) const {
  std::vector<AbstractSocket> marks;
  error = abstract_sockets(name_ + "/", true, marks);
  for (const AbstractSocket& m : marks) {
    if (m.name != mark_name_ && sniffer_user(m.uid)) return "uid " + std::to_string(m.uid) + " (@" + m.name + ")";
  }
  return {};
}

void TcHookLock::drain() const {
  for (int fd; fd_ >= 0 && (fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) close(fd);
}

TcHookLock::Holder TcHookLock::holder() const {
  // The owner of the socket on the name decides: no connection is needed, so
  // a flood that fills a live sniffer's backlog hides nothing (red team,
  // round 16). One connection, if it is taken at once, names its pid.
  std::vector<AbstractSocket> sockets;
  if (abstract_sockets(name_, false, sockets) != 0) return asked();
  for (const AbstractSocket& s : sockets) {
    if (s.name != name_) continue;  // a mark
    ucred cred{};
    const bool answered = ask(name_, cred) == 0;
    cred.uid = s.uid;
    return {.sniffer = sniffer_user(s.uid),
            .who = answered ? name_of(cred) : "a process of uid " + std::to_string(s.uid) + " that does not answer"};
  }
  return {.sniffer = false, .who = "a process that has let it go since"};
}

TcHookLock::Holder TcHookLock::asked() const {
  using namespace std::chrono;
  // Without sock_diag, the holder is asked: a sniffer listens from its bind
  // on (refused for microseconds in between) and empties its backlog every
  // second: a holder still refused after 0.2 s, or with a full backlog after
  // 1.5 s, does not answer as a sniffer does.
  const auto start = steady_clock::now();
  for (;;) {
    ucred cred{};
    const int err = ask(name_, cred);
    if (err == 0) return {.sniffer = sniffer_user(cred.uid), .who = name_of(cred)};
    if (err != ECONNREFUSED && err != EAGAIN) return {.sniffer = true, .who = "a process that could not be asked"};
    const auto waited = steady_clock::now() - start;
    const bool retry = (err == ECONNREFUSED && waited < milliseconds(200)) || (err == EAGAIN && waited < 1500ms);
    if (!retry) return {.sniffer = false, .who = "a process that does not answer"};
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace sniffer
