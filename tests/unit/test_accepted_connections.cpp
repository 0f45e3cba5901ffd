// A flood of raw connections (descriptors held before any ZeroMQ handshake)
// is cut by peer, the crowd first, so that the daemon stays under its
// descriptor limit and the peers with a connection or two keep theirs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "sniffer/accepted_connections.hpp"

namespace sniffer {
namespace {

// A plain TCP connection from `source` (a 127/8 address) to 127.0.0.1:port.
int raw_connection(const char* source, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  return fd;
}

// Whether the other end closed fd: what it sent (ZeroMQ's greeting) read,
// the end of the stream follows.
bool closed_by_peer(int fd) {
  char buf[256];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) continue;
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }
}

TEST(ConnectionCap, AQuarterOfTheLimitLessAReserveWithinBounds) {
  EXPECT_EQ(connection_cap(65536, 1024), 1024u);
  EXPECT_EQ(connection_cap(1024, 1024), 192u);
  EXPECT_EQ(connection_cap(1024, 64), 64u);
  EXPECT_EQ(connection_cap(300, 64), 16u);
  EXPECT_EQ(connection_cap(0, 64), 16u);
}

TEST(AcceptedConnections, AFloodFromOnePeerIsCutAndTheOthersStay) {
  zmq::context_t ctx;
  zmq::socket_t xpub(ctx, zmq::socket_type::xpub);
  AcceptedConnections connections(ctx, xpub, "test-crowd");
  xpub.bind("tcp://127.0.0.1:*");
  const std::string bound = xpub.get(zmq::sockopt::last_endpoint);
  const int port = std::stoi(bound.substr(bound.rfind(':') + 1));

  std::vector<int> crowd, others;
  for (int i = 0; i < 30; ++i) crowd.push_back(raw_connection("127.0.0.5", port));
  for (int i = 0; i < 2; ++i) others.push_back(raw_connection("127.0.0.6", port));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (connections.size() < 32 && std::chrono::steady_clock::now() < deadline) {  // the monitor's events
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    connections.update();
  }
  ASSERT_EQ(connections.size(), 32u);
  EXPECT_EQ(connections.cut_crowds(bound, 16), std::vector<std::string>{"127.0.0.5"});
  EXPECT_LE(connections.size(), 16u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(std::all_of(crowd.begin(), crowd.end(), closed_by_peer)) << "the crowd's connections stay open";
  EXPECT_TRUE(std::none_of(others.begin(), others.end(), closed_by_peer)) << "another peer's connection was cut";
  EXPECT_TRUE(connections.cut_crowds(bound, 16).empty());
  for (int fd : crowd) close(fd);
  for (int fd : others) close(fd);
}

}  // namespace
}  // namespace sniffer
