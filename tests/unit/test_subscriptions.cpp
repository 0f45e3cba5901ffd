// The publish socket's subscription book (charged per peer, so that one
// peer that piles up distinct subscriptions can be cut alone), and the cut
// itself on real tcp connections from two source addresses.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "sniffer/publisher.hpp"
#include "sniffer/subscriptions.hpp"

namespace sniffer {
namespace {

TEST(Subscriptions, ChargesEachPrefixToItsFirstSubscriber) {
  Subscriptions subs;
  subs.apply(true, "pkt", "10.0.0.1");
  subs.apply(true, "flow", "10.0.0.1");
  for (int i = 0; i < 5; ++i) subs.apply(true, "junk" + std::to_string(i), "10.0.0.9");
  subs.apply(true, "pkt", "10.0.0.9");  // XPUB would not report it twice: no change
  EXPECT_EQ(subs.size(), 7u);
  EXPECT_TRUE(subs.wanted("pkt"));
  EXPECT_TRUE(subs.wanted("flow"));
  EXPECT_FALSE(subs.wanted("stats"));
  EXPECT_TRUE(subs.wanted("junk3-and-more"));
  EXPECT_FALSE(subs.wanted("jun"));  // a prefix longer than the topic
  using Over = std::vector<std::pair<std::string, std::size_t>>;
  EXPECT_EQ(subs.peers_over(4), (Over{{"10.0.0.9", 5}}));
  EXPECT_EQ(subs.peers_over(1), (Over{{"10.0.0.9", 5}, {"10.0.0.1", 2}}));
  EXPECT_EQ(subs.peers_over(5), Over{});
}

TEST(Subscriptions, AnUnsubscriptionUnchargesThePrefixsPeer) {
  Subscriptions subs;
  for (int i = 0; i < 3; ++i) subs.apply(true, "x" + std::to_string(i), "10.0.0.9");
  subs.apply(false, "x1", "");  // unsubscriptions come without a peer (the last holder left)
  subs.apply(false, "never", "");
  EXPECT_EQ(subs.size(), 2u);
  EXPECT_FALSE(subs.wanted("x1"));
  using Over = std::vector<std::pair<std::string, std::size_t>>;
  EXPECT_EQ(subs.peers_over(1), (Over{{"10.0.0.9", 2}}));
  subs.apply(false, "x0", "");
  subs.apply(false, "x2", "");
  EXPECT_EQ(subs.peers_over(0), Over{});
  EXPECT_EQ(subs.size(), 0u);
}

TEST(Subscriptions, PeersNewestFirstOrdersByTheFirstSightingThenTheLastCharge) {
  Subscriptions subs;
  subs.apply(true, "pkt", "10.0.0.1");
  subs.apply(true, "a", "10.0.0.2");
  subs.apply(true, "b", "10.0.0.3");
  subs.apply(true, "flow", "10.0.0.1");  // charged last, but seen first: still the oldest
  subs.apply(true, "c", "");             // unknown peers are never listed
  using Peers = std::vector<std::pair<std::string, std::size_t>>;
  EXPECT_EQ(subs.peers_newest_first(), (Peers{{"10.0.0.3", 1}, {"10.0.0.2", 1}, {"10.0.0.1", 2}}));
  // 10.0.0.1 leaves (cut, or a restart of the detector) and comes back after
  // 10.0.0.4: it keeps its first sighting.
  subs.apply(false, "pkt", "");
  subs.apply(false, "flow", "");
  subs.apply(true, "d", "10.0.0.4");
  subs.apply(true, "pkt", "10.0.0.1");
  EXPECT_EQ(subs.peers_newest_first(), (Peers{{"10.0.0.4", 1}, {"10.0.0.3", 1}, {"10.0.0.2", 1}, {"10.0.0.1", 1}}));
}

TEST(Subscriptions, PeersBeyondTheRememberedAreNewerThanAnyRemembered) {
  Subscriptions subs;
  for (std::size_t i = 0; i <= Subscriptions::kMaxRemembered; ++i) subs.apply(true, std::to_string(i), "p" + std::to_string(i));
  subs.apply(true, "x", "p0");  // the oldest charged again: not newer for it
  const auto newest = subs.peers_newest_first();
  ASSERT_EQ(newest.size(), Subscriptions::kMaxRemembered + 1);
  EXPECT_EQ(newest.front().first, "p" + std::to_string(Subscriptions::kMaxRemembered));  // not remembered
  EXPECT_EQ(newest.back().first, "p0");
}

// Red team R15-5: peers passing through once (subscribe, leave) filled the
// memory for good, and every later detector counted as newer than all.
TEST(Subscriptions, PeersThatLeftMakeRoomForNewOnesWhenTheMemoryIsFull) {
  Subscriptions subs;
  subs.apply(true, "k", "keeper");
  for (std::size_t i = 0; i < Subscriptions::kMaxRemembered; ++i) {
    subs.apply(true, "x" + std::to_string(i), "passer" + std::to_string(i));
    subs.apply(false, "x" + std::to_string(i), "");  // it left: its prefix uncharged
  }
  subs.apply(true, "d", "detector");
  subs.apply(true, "l", "late");
  subs.apply(true, "d2", "detector");  // charged last, but seen before "late"
  using Peers = std::vector<std::pair<std::string, std::size_t>>;
  EXPECT_EQ(subs.peers_newest_first(), (Peers{{"late", 1}, {"detector", 2}, {"keeper", 1}}));
}

TEST(Subscriptions, UnknownPeersAreNeverSingledOut) {
  Subscriptions subs;
  for (int i = 0; i < 100; ++i) subs.apply(true, std::to_string(i), "");
  EXPECT_TRUE(subs.peers_over(10).empty());  // left to the bound over all peers
  EXPECT_EQ(subs.size(), 100u);
}

// Counts the DISCONNECTED events of `socket`'s connections.
struct Disconnects {
  Disconnects(zmq::context_t& ctx, zmq::socket_t& socket, const std::string& name) : monitor(ctx, zmq::socket_type::pair) {
    const std::string endpoint = "inproc://test-disconnects-" + name;
    EXPECT_EQ(zmq_socket_monitor(socket.handle(), endpoint.c_str(), ZMQ_EVENT_DISCONNECTED), 0);
    monitor.connect(endpoint);
  }
  int count() {
    zmq::message_t frame;
    while (monitor.recv(frame, zmq::recv_flags::dontwait)) {
      if (!frame.more()) ++seen;  // an event is two frames
    }
    return seen;
  }
  zmq::socket_t monitor;
  int seen = 0;
};

// A publish socket on a port of 127.0.0.1 that ZeroMQ chooses, and that port.
PublishConfig on_loopback() {
  PublishConfig config;
  config.endpoint = "tcp://127.0.0.1:*";
  return config;
}
std::string port_of(const PublishSocket& pub) { return pub.endpoint().substr(pub.endpoint().rfind(':') + 1); }

TEST(PublishSocketCuts, APeerWithTooManySubscriptionsIsCutAloneOverTcp) {
  zmq::context_t ctx;
  PublishSocket pub(ctx, on_loopback());
  const std::string port = port_of(pub);

  zmq::socket_t good(ctx, zmq::socket_type::sub), hostile(ctx, zmq::socket_type::sub);
  Disconnects good_disconnects(ctx, good, "good"), hostile_disconnects(ctx, hostile, "hostile");
  good.set(zmq::sockopt::linger, 0);
  hostile.set(zmq::sockopt::linger, 0);
  good.connect("tcp://127.0.0.2:0;127.0.0.1:" + port);
  good.set(zmq::sockopt::subscribe, "pkt");
  hostile.connect("tcp://127.0.0.3:0;127.0.0.1:" + port);
  for (std::size_t i = 0; i <= PublishSocket::kMaxSubscriptionsPerPeer; ++i) {
    hostile.set(zmq::sockopt::subscribe, "junk" + std::to_string(i));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pub.connection_cuts() == 0 && std::chrono::steady_clock::now() < deadline) {
    pub.service();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(pub.connection_cuts(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pub.service();
  EXPECT_GE(hostile_disconnects.count(), 1);
  EXPECT_EQ(good_disconnects.count(), 0) << "the good subscriber, on another address, was cut too";
  EXPECT_TRUE(pub.has_subscriber("pkt"));
}

TEST(PublishSocketCuts, ManyPeersUnderTheirBoundLoseTheNewestFirst) {
  // Red team R13-2: peers each holding fewer subscriptions than the detector
  // (3 against its 4), enough of them to pass the bound over all peers. The
  // detector subscribed first and must keep receiving; cutting the largest
  // first cut it on every reconnection.
  zmq::context_t ctx;
  PublishSocket pub(ctx, on_loopback());
  const std::string port = port_of(pub);
  zmq::socket_t good(ctx, zmq::socket_type::sub);
  Disconnects good_disconnects(ctx, good, "good-of-many");
  good.set(zmq::sockopt::linger, 0);
  good.connect("tcp://127.0.0.2:0;127.0.0.1:" + port);
  for (const char* topic : {"pkt", "flow", "stats", "alert"}) good.set(zmq::sockopt::subscribe, topic);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pub.has_subscriber("alert") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // 345 peers x 3 distinct subscriptions: 1,039 in all with the detector's.
  constexpr int kPeers = 345;
  std::vector<zmq::socket_t> hostile;
  for (int p = 0; p < kPeers; ++p) {
    hostile.emplace_back(ctx, zmq::socket_type::sub);
    hostile.back().set(zmq::sockopt::linger, 0);
    const std::string source = "127.0." + std::to_string(1 + p / 200) + "." + std::to_string(p % 200 + 1);
    hostile.back().connect("tcp://" + source + ":0;127.0.0.1:" + port);
    for (int i = 0; i < 3; ++i) hostile.back().set(zmq::sockopt::subscribe, std::to_string(p) + "/" + std::to_string(i));
  }
  while (pub.connection_cuts() < 5 && std::chrono::steady_clock::now() < deadline) {
    pub.service();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  pub.service();
  EXPECT_GE(pub.connection_cuts(), 5u);  // 1,039 - 5 x 3 <= 1,024
  EXPECT_LT(pub.connection_cuts(), static_cast<std::uint64_t>(kPeers)) << "every peer was cut";
  EXPECT_EQ(good_disconnects.count(), 0) << "the detector, subscribed first, was cut";
  EXPECT_TRUE(pub.has_subscriber("pkt"));
}

TEST(PublishSocketCuts, ASubscriberOfTopicsAnotherPeerHeldFirstIsVouchedFor) {
  // Red team R14-3: without XPUB_VERBOSE, ZeroMQ handed up only a prefix's
  // first subscription, so a detector subscribing to topics another peer
  // held first was never seen, and went first in every crowd cut.
  zmq::context_t ctx;
  PublishSocket pub(ctx, on_loopback());
  const std::string port = port_of(pub);
  zmq::socket_t holder(ctx, zmq::socket_type::sub), detector(ctx, zmq::socket_type::sub),
      silent(ctx, zmq::socket_type::sub);
  for (zmq::socket_t* s : {&holder, &detector, &silent}) s->set(zmq::sockopt::linger, 0);
  holder.connect("tcp://127.0.0.3:0;127.0.0.1:" + port);
  for (const char* topic : {"pkt", "flow", "stats"}) holder.set(zmq::sockopt::subscribe, topic);
  const auto settle = [&](const char* peer) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pub.vouched(peer) && std::chrono::steady_clock::now() < deadline) {
      pub.service();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  settle("127.0.0.3");
  ASSERT_TRUE(pub.vouched("127.0.0.3"));
  detector.connect("tcp://127.0.0.2:0;127.0.0.1:" + port);
  for (const char* topic : {"pkt", "flow", "stats"}) detector.set(zmq::sockopt::subscribe, topic);
  silent.connect("tcp://127.0.0.4:0;127.0.0.1:" + port);  // connected, never subscribes
  settle("127.0.0.2");
  EXPECT_TRUE(pub.vouched("127.0.0.2")) << "the detector's subscriptions to held topics were not seen";
  pub.service();
  EXPECT_FALSE(pub.vouched("127.0.0.4"));
}

}  // namespace
}  // namespace sniffer
