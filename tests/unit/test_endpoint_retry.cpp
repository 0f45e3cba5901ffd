// What is said of an endpoint the sensor runs without (endpoint_retry.hpp):
// each new reason once, a clash a start would refuse said as such, nothing
// thrown (red team, round 17: R17-2 a silent wait, R17-3 an exit mid-run).
#include <gtest/gtest.h>

#include <unistd.h>

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
  retry.start_failed(kSquatter, 100 * kSecond);
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
  retry.start_failed(kSquatter, 0);
  log.take();
  EXPECT_FALSE(retry.retry_failed(kSquatter, false, 5 * kSecond));
  EXPECT_EQ(log.take(), "");
  EXPECT_TRUE(retry.retry_failed(kRoot, true, 10 * kSecond));
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
  for (std::uint64_t s = 15; s < 60; s += 5) EXPECT_FALSE(retry.retry_failed(kRoot, true, s * kSecond));
  EXPECT_EQ(log.take(), "");
  // Another squatter after root: a reason that may pass, a warning.
  EXPECT_TRUE(retry.retry_failed(kSquatter, false, 60 * kSecond));
  EXPECT_EQ(log.take().rfind("warning publish.endpoint \"tcp://127.0.0.1:5556\": still not bound, now " + kSquatter +
                                 "; the sensor runs without it",
                             0),
            0U);
}

TEST(EndpointRetry, BoundSaysWhatWasInTheWayAndClearsTheReason) {
  LogCapture log;
  EndpointRetry retry("metrics.listen", "127.0.0.1:9750", "its metrics endpoint");
  retry.start_failed(kSquatter, 0);
  retry.retry_failed(kRoot, true, 5 * kSecond);
  log.take();
  retry.bound("http://127.0.0.1:9750/metrics");
  EXPECT_EQ(log.take(), "info metrics.listen: bound http://127.0.0.1:9750/metrics now (before: " + kRoot + ")\n");
  EXPECT_EQ(retry.refused(), "");
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
}

}  // namespace
}  // namespace sniffer
