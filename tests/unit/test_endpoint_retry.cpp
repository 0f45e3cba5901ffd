// What is said of an endpoint the sensor runs without (endpoint_retry.hpp):
// each new reason once, a clash a start would refuse said as such, nothing
// thrown (red team, round 17: R17-2 a silent wait, R17-3 an exit mid-run).
#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>

#include "log_capture.hpp"
#include "sniffer/endpoint_holders.hpp"
#include "sniffer/endpoint_retry.hpp"
#include "sniffer/tcp_listener.hpp"

namespace sniffer {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

const std::string kSquatter = "cannot bind: Address already in use, held by uid 65534";
const std::string kRoot = "cannot bind: Address already in use, held by uid 0 (pid 42, sniffer)";

TEST(EndpointRetry, TheStartSaysWhyAndWhatRunningWithoutItMeans) {
  LogCapture log;
  EndpointRetry retry("publish.endpoint", "tcp://127.0.0.1:5556", "it (no subscriber)");
  retry.start_failed(kSquatter, kSquatter, 100 * kSecond);
  EXPECT_EQ(log.take(), "error publish.endpoint \"tcp://127.0.0.1:5556\": " + kSquatter +
                            "; the sensor runs without it (no subscriber) and tries again every 5 s\n");
  EXPECT_EQ(retry.refused(), kSquatter);
  EXPECT_FALSE(retry.due(100 * kSecond + kRebindSeconds * kSecond - 1));
  EXPECT_TRUE(retry.due(100 * kSecond + kRebindSeconds * kSecond));
}

// R17-2: root (a second sensor) took the port when the squatter left: said
// once, naming it, as a clash; the same reason again is not said again.
TEST(EndpointRetry, ANewHolderIsSaidOnceAsAClash) {
  LogCapture log;
  EndpointRetry retry("publish.endpoint", "tcp://127.0.0.1:5556", "it (no subscriber)");
  retry.start_failed(kSquatter, kSquatter, 0);
  log.take();
  EXPECT_FALSE(retry.retry_failed(kSquatter, kSquatter, false, 5 * kSecond));
  EXPECT_EQ(log.take(), "");
  EXPECT_TRUE(retry.retry_failed(kRoot, kRoot, true, 10 * kSecond));
  const std::string said = log.take();
  EXPECT_EQ(said.rfind("error publish.endpoint \"tcp://127.0.0.1:5556\": still not bound, now " + kRoot +
                           ": a start would refuse this",
                       0),
            0U)
      << said;
  EXPECT_NE(said.find("keeps running without it (no subscriber) and tries again every 5 s"), std::string::npos);
  EXPECT_EQ(retry.refused(), kRoot);
  EXPECT_FALSE(retry.due(14 * kSecond));
  EXPECT_TRUE(retry.due(15 * kSecond));
  for (std::uint64_t s = 15; s < 60; s += 5) EXPECT_FALSE(retry.retry_failed(kRoot, kRoot, true, s * kSecond));
  EXPECT_EQ(log.take(), "");
  // Another squatter after root: a reason that may pass, a warning.
  EXPECT_TRUE(retry.retry_failed(kSquatter, kSquatter, false, 60 * kSecond));
  EXPECT_EQ(log.take().rfind("warning publish.endpoint \"tcp://127.0.0.1:5556\": still not bound, now " + kSquatter +
                                 "; the sensor runs without it",
                             0),
            0U);
}

TEST(EndpointRetry, BoundSaysWhatWasInTheWayAndClearsTheReason) {
  LogCapture log;
  EndpointRetry retry("metrics.listen", "127.0.0.1:9750", "its metrics endpoint");
  retry.start_failed(kSquatter, kSquatter, 0);
  retry.retry_failed(kRoot, kRoot, true, 5 * kSecond);
  log.take();
  retry.bound("http://127.0.0.1:9750/metrics");
  EXPECT_EQ(log.take(), "info metrics.listen: bound http://127.0.0.1:9750/metrics now (before: " + kRoot + ")\n");
  EXPECT_EQ(retry.refused(), "");
}

// R18-6: a squatter that renames itself (prctl PR_SET_NAME) or binds from a
// new process changes its pid and name at will: not a new reason, or it got a
// line every 5 s forever. When something is said, the current process is named.
TEST(EndpointRetry, AHolderThatRenamesItselfOrComesBackFromANewProcessIsNotSaidAgain) {
  LogCapture log;
  const std::string failure = "cannot bind: Address already in use", squatter = failure + ", held by uid 65534";
  EndpointRetry retry("publish.endpoint", "tcp://127.0.0.1:5556", "it (no subscriber)");
  retry.start_failed(squatter + " (pid 100, squat0)", squatter, 0);
  log.take();
  for (int i = 1; i < 20; ++i) {
    const std::string renamed = squatter + " (pid " + std::to_string(100 + i) + ", squat" + std::to_string(i) + ")";
    EXPECT_FALSE(retry.retry_failed(renamed, squatter, false, i * kRebindSeconds * kSecond));
    EXPECT_EQ(retry.refused(), renamed);  // the report shows the holder of now
  }
  EXPECT_EQ(log.take(), "");
  // Another uid is another holder: said, naming its process.
  const std::string other = failure + ", held by uid 1000";
  EXPECT_TRUE(retry.retry_failed(other + " (pid 300, other)", other, false, 100 * kSecond));
  EXPECT_NE(log.take().find("still not bound, now " + other + " (pid 300, other); "), std::string::npos);
}

// A holder going back and forth between two reasons (its socket listening,
// so named, or only bound, so not; or two uids of its own) says each once.
TEST(EndpointRetry, AHolderSwitchingBetweenTwoReasonsSaysEachOnce) {
  LogCapture log;
  const std::string unknown = "cannot bind: Address already in use", squatter = unknown + ", held by uid 65534";
  EndpointRetry retry("publish.endpoint", "tcp://127.0.0.1:5556", "it (no subscriber)");
  retry.start_failed(squatter, squatter, 0);
  EXPECT_TRUE(retry.retry_failed(unknown, unknown, false, 5 * kSecond));
  for (std::uint64_t s = 10; s < 100; s += 10) {
    EXPECT_FALSE(retry.retry_failed(squatter, squatter, false, s * kSecond));
    EXPECT_FALSE(retry.retry_failed(unknown, unknown, false, (s + 5) * kSecond));
  }
  const std::string said = log.take();
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 2) << said;
  // Once bound, a new wait says its reasons anew.
  retry.bound("tcp://127.0.0.1:5556");
  log.take();
  retry.start_failed(squatter, squatter, 200 * kSecond);
  EXPECT_TRUE(retry.retry_failed(unknown, unknown, false, 205 * kSecond));
}

// The holder named with its process, as the log says it ("held by uid 0
// (pid 4242, sniffer)"): the socket's inode found among our descriptors.
TEST(EndpointHolders, NameTheUidAndTheProcessOfAListener) {
  UniqueFd listening = listen_tcp("127.0.0.1", 0);
  const std::vector<EndpointHolder> holders = tcp_port_holders(local_port(listening.get()));
  ASSERT_EQ(holders.size(), 1U);
  EXPECT_EQ(holders[0].uid, geteuid());
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  EXPECT_EQ(held_by(holders),
            ", held by uid " + std::to_string(geteuid()) + " (pid " + std::to_string(getpid()) + ", " + comm + ")");
  EXPECT_TRUE(held_by_us(holders));
  EXPECT_FALSE(bind_may_wait(EADDRINUSE, holders));
  EXPECT_TRUE(bind_may_wait(EADDRINUSE, {{.uid = 65534, .inode = 0}}));
  EXPECT_EQ(held_by({{.uid = 65534, .inode = 0}}), ", held by uid 65534");  // no process known: the uid alone
  EXPECT_EQ(held_by_uids(holders), ", held by uid " + std::to_string(geteuid()));
}

// R18-6: the process name is the holder's choice (any bytes but NUL): its
// terminal escapes are shown escaped, not sent to the log's terminal.
TEST(EndpointHolders, AProcessNameIsShownEscaped) {
  std::string comm;
  std::getline(std::ifstream("/proc/self/comm"), comm);
  ASSERT_EQ(::prctl(PR_SET_NAME, "\x1b[2J\x1b[1;32mX", 0, 0, 0), 0);
  UniqueFd listening = listen_tcp("127.0.0.1", 0);
  const std::string said = held_by(tcp_port_holders(local_port(listening.get())));
  ::prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
  EXPECT_EQ(said, ", held by uid " + std::to_string(geteuid()) + " (pid " + std::to_string(getpid()) +
                      ", \\x1b[2J\\x1b[1;32mX)");
}

}  // namespace
}  // namespace sniffer
