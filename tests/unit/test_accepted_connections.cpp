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
  const auto cut = connections.cut_crowds(bound, 16);
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].peer, "127.0.0.5");
  EXPECT_EQ(cut[0].connections, 30u);
  EXPECT_LE(connections.size(), 16u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(std::all_of(crowd.begin(), crowd.end(), closed_by_peer)) << "the crowd's connections stay open";
  EXPECT_TRUE(std::none_of(others.begin(), others.end(), closed_by_peer)) << "another peer's connection was cut";
  EXPECT_TRUE(connections.cut_crowds(bound, 16).empty());
  for (int fd : crowd) close(fd);
  for (int fd : others) close(fd);
}

// An XPUB on 127.0.0.1 whose connections are watched; `port` it was bound to.
struct WatchedSocket {
  WatchedSocket() : xpub(ctx, zmq::socket_type::xpub), connections(ctx, xpub, "test-ties") {
    xpub.bind("tcp://127.0.0.1:*");
    bound = xpub.get(zmq::sockopt::last_endpoint);
    port = std::stoi(bound.substr(bound.rfind(':') + 1));
  }
  void wait_for(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (connections.size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      connections.update();
    }
    ASSERT_EQ(connections.size(), n);
  }
  zmq::context_t ctx;
  zmq::socket_t xpub;
  AcceptedConnections connections;
  std::string bound;
  int port = 0;
};

// Red team R13-6: peers with one connection each, some of whose addresses
// sort before the detector's. The tie went by the order of address strings:
// the detector, connected first, was cut on every try.
TEST(AcceptedConnections, AmongEqualCrowdsTheNewestConnectionsGoFirst) {
  WatchedSocket w;
  const int detector = raw_connection("127.0.0.200", w.port);
  w.wait_for(1);
  std::vector<int> flood;
  for (int i = 10; i < 30; ++i) {
    flood.push_back(raw_connection(("127.0.0." + std::to_string(i)).c_str(), w.port));
    w.wait_for(flood.size() + 1);  // one at a time: the order they are accepted in is known
  }
  const auto cut = w.connections.cut_crowds(w.bound, 16);
  std::vector<std::string> peers;
  for (const auto& c : cut) peers.push_back(c.peer);
  EXPECT_EQ(peers, (std::vector<std::string>{"127.0.0.29", "127.0.0.28", "127.0.0.27", "127.0.0.26", "127.0.0.25"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(closed_by_peer(detector)) << "the first connection was cut";
  close(detector);
  for (int fd : flood) close(fd);
}

TEST(AcceptedConnections, AVouchedPeerGoesLastEvenWhenItsConnectionIsTheNewest) {
  WatchedSocket w;
  std::vector<int> flood;
  for (int i = 10; i < 30; ++i) flood.push_back(raw_connection(("127.0.0." + std::to_string(i)).c_str(), w.port));
  w.wait_for(flood.size());
  const int detector = raw_connection("127.0.0.200", w.port);
  w.wait_for(flood.size() + 1);
  w.connections.vouch("127.0.0.200");
  const auto cut = w.connections.cut_crowds(w.bound, 16);
  EXPECT_EQ(cut.size(), 5u);
  EXPECT_TRUE(std::none_of(cut.begin(), cut.end(), [](const auto& c) { return c.peer == "127.0.0.200"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(closed_by_peer(detector)) << "the vouched peer was cut";
  close(detector);
  for (int fd : flood) close(fd);
}

// Red team R15-5: peers that vouched once and left filled the memory
// (4,096) for good, and every later detector was cut first by any crowd.
TEST(AcceptedConnections, PeersThatLeftMakeRoomForNewVouchesWhenTheMemoryIsFull) {
  WatchedSocket w;
  const int early = raw_connection("127.0.0.201", w.port);
  w.wait_for(1);
  w.connections.vouch("127.0.0.201");
  for (std::size_t i = 1; i < AcceptedConnections::kMaxVouched; ++i) {
    w.connections.vouch("10.9." + std::to_string(i / 256) + "." + std::to_string(i % 256));  // not connected now
  }
  const int detector = raw_connection("127.0.0.200", w.port);
  w.wait_for(2);
  w.connections.vouch("127.0.0.200");
  EXPECT_TRUE(w.connections.vouched("127.0.0.200"));
  EXPECT_TRUE(w.connections.vouched("127.0.0.201")) << "a connected peer was forgotten";
  EXPECT_FALSE(w.connections.vouched("10.9.0.1"));
  close(detector);
  close(early);
}

}  // namespace
}  // namespace sniffer
