// TcHookLock: one holder per hook name, asked who it is; marks of sniffers
// that attached beside a squatter, found through sock_diag with their owner.
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/tc_hook_lock.hpp"
#include "sniffer/abstract_sockets.hpp"

using sniffer::TcHookLock;

namespace {

// An ifindex no interface has: a hook name of this test's own.
std::uint32_t unused_ifindex() {
  std::uint32_t r = 0;
  EXPECT_EQ(getrandom(&r, sizeof r, 0), static_cast<ssize_t>(sizeof r));
  return 0x80000000U | r;
}

// A socket bound to the abstract `name`, listening or not.
int bound(const std::string& name, bool listening) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0) << name;
  if (listening) {
    EXPECT_EQ(listen(fd, 1), 0);
  }
  return fd;
}

}  // namespace

TEST(AbstractSockets, FindsAbstractNamesByPrefixWithTheirOwner) {
  const std::string prefix = "sniffer-test/" + std::to_string(unused_ifindex()) + "/";
  const int a = bound(prefix + "a", true);
  const int b = bound(prefix + "b", false);  // bound, not listening: no mark
  const int c = bound(prefix + "c", true);
  std::vector<sniffer::AbstractSocket> found;
  ASSERT_EQ(sniffer::abstract_sockets(prefix, true, found), 0);
  std::vector<std::string> names;
  for (const auto& l : found) {
    names.push_back(l.name);
    EXPECT_EQ(l.uid, geteuid()) << l.name;
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{prefix + "a", prefix + "c"}));
  ASSERT_EQ(sniffer::abstract_sockets(prefix, false, found), 0);
  EXPECT_EQ(found.size(), 3U) << "bound, listening or not";
  for (int fd : {a, b, c}) close(fd);
  ASSERT_EQ(sniffer::abstract_sockets(prefix, true, found), 0);
  EXPECT_TRUE(found.empty());
}

TEST(TcHookLock, OneHolderAnsweringAsASniffer) {
  const std::uint32_t ifindex = unused_ifindex();
  TcHookLock first(ifindex, false);
  ASSERT_TRUE(first.held());
  TcHookLock second(ifindex, false);
  EXPECT_FALSE(second.held());
  EXPECT_EQ(second.error(), -EADDRINUSE);
  const TcHookLock::Holder holder = second.holder();
  EXPECT_TRUE(holder.sniffer);
  EXPECT_EQ(holder.who, "pid " + std::to_string(getpid()) + " (uid " + std::to_string(geteuid()) + ")");
  TcHookLock ingress(ifindex, true);  // another hook, another lock
  EXPECT_TRUE(ingress.held());
}

// Its owner decides, read without a connection: a flood that fills the
// holder's backlog does not make a live sniffer "one that does not answer",
// whose filter a sniffer in another pid namespace took over (red team, round
// 16).
TEST(TcHookLock, AHolderWithAFullBacklogIsStillASniffer) {
  const std::uint32_t ifindex = unused_ifindex();
  TcHookLock first(ifindex, false);
  ASSERT_TRUE(first.held());
  const std::string name = "sniffer-tc/" + std::to_string(ifindex) + "/egress";
  std::vector<int> flood;
  for (int i = 0; i < 64; ++i) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    const bool refused = connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 && errno == EAGAIN;
    flood.push_back(fd);
    if (refused) break;
  }
  ASSERT_LT(flood.size(), 64U) << "the backlog never filled";
  const TcHookLock::Holder holder = TcHookLock(ifindex, false).holder();
  EXPECT_TRUE(holder.sniffer);
  EXPECT_EQ(holder.who, "a process of uid " + std::to_string(geteuid()) + " that does not answer");
  for (int fd : flood) close(fd);
}

// A sniffer beside a squatter marks the hook; another sees the mark (not its
// own), and the mark goes once the lock is taken.
TEST(TcHookLock, MarksAreSeenByOthersAndGoWithTheLock) {
  const std::uint32_t ifindex = unused_ifindex();
  auto squatter = std::make_unique<TcHookLock>(ifindex, false);
  ASSERT_TRUE(squatter->held());
  TcHookLock beside(ifindex, false), later(ifindex, false);
  int err = -1;
  EXPECT_EQ(later.other_mark(err), "");
  EXPECT_EQ(err, 0);
  ASSERT_EQ(beside.mark(), 0);
  EXPECT_TRUE(beside.marked());
  EXPECT_EQ(beside.other_mark(err), "") << "its own mark is no other's";
  const std::string seen = later.other_mark(err);
  EXPECT_EQ(seen.rfind("uid " + std::to_string(geteuid()) + " (@sniffer-tc/" + std::to_string(ifindex) + "/egress/", 0),
            0U)
      << seen;
  ASSERT_EQ(later.mark(), 0);  // two marking at once: each sees the other's
  EXPECT_NE(beside.other_mark(err), "");
  squatter.reset();
  ASSERT_TRUE(beside.take());
  EXPECT_FALSE(beside.marked());
  EXPECT_EQ(later.other_mark(err), "");
}
