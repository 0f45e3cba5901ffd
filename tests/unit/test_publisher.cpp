// The publisher over inproc ZeroMQ: batching bounds, topics, sequence
// numbers, and exact high-water-mark drop accounting.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "sniffer/publisher.hpp"

namespace sniffer {
namespace {

struct Received {
  std::string topic;
  v1::EventBatch batch;
};

bool receive(zmq::socket_t& sub, Received& out, int timeout_ms = 1000) {
  sub.set(zmq::sockopt::rcvtimeo, timeout_ms);
  zmq::message_t topic, body;
  if (!sub.recv(topic)) return false;
  EXPECT_TRUE(topic.more());
  EXPECT_TRUE(sub.recv(body));
  out.topic = topic.to_string();
  return out.batch.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

class PublisherTest : public ::testing::Test {
 protected:
  zmq::context_t ctx{1};

  zmq::socket_t subscribe(const std::string& endpoint, int rcvhwm = 1000) {
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::rcvhwm, rcvhwm);
    sub.set(zmq::sockopt::subscribe, "");
    sub.connect(endpoint);
    return sub;
  }
};

TEST_F(PublisherTest, BatchesByCountWithTopicAndSequence) {
  PublishConfig cfg{.endpoint = "inproc://count", .batch_max_events = 3, .batch_max_latency_ms = 60000};
  Publisher pub(ctx, cfg, "sensor-a", 1234);
  auto sub = subscribe(cfg.endpoint);
  for (int i = 0; i < 7; ++i) pub.add_event(0)->set_src_port(1000 + i);
  pub.flush();  // the partial batch

  std::vector<int> sizes;
  std::vector<std::uint64_t> sequences;
  Received r;
  std::uint32_t expected_port = 1000;
  while (receive(sub, r, 200)) {
    EXPECT_EQ(r.topic, kTopicPackets);
    EXPECT_EQ(r.batch.sensor_id(), "sensor-a");
    EXPECT_EQ(r.batch.sensor_start_ns(), 1234u);
    sizes.push_back(r.batch.events_size());
    sequences.push_back(r.batch.sequence());
    for (const auto& e : r.batch.events()) EXPECT_EQ(e.src_port(), expected_port++);
  }
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 1}));
  EXPECT_EQ(sequences, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(pub.counters().events_sent, 7u);
  EXPECT_EQ(pub.counters().batches_sent, 3u);
}

TEST_F(PublisherTest, LatencyBoundFlushesAPartialBatch) {
  PublishConfig cfg{.endpoint = "inproc://latency", .batch_max_events = 100, .batch_max_latency_ms = 5};
  Publisher pub(ctx, cfg, "s", 1);
  auto sub = subscribe(cfg.endpoint);
  pub.add_event(1000000000);
  pub.flush_if_due(1000000000 + 4000000);  // 4 ms: not yet
  EXPECT_EQ(pub.pending_events(), 1u);
  EXPECT_EQ(pub.ms_until_due(1000000000 + 4000000), 1);
  pub.flush_if_due(1000000000 + 5000000);  // 5 ms: due
  EXPECT_EQ(pub.pending_events(), 0u);
  Received r;
  ASSERT_TRUE(receive(sub, r));
  EXPECT_EQ(r.batch.events_size(), 1);
  EXPECT_EQ(pub.ms_until_due(0), -1);
}

TEST_F(PublisherTest, HighWaterMarkDropsAreCountedAndLeaveSequenceGaps) {
  PublishConfig cfg{.endpoint = "inproc://hwm", .batch_max_events = 2, .batch_max_latency_ms = 60000, .send_hwm = 2};
  Publisher pub(ctx, cfg, "s", 1);
  auto sub = subscribe(cfg.endpoint, 2);
  // Let the subscription reach the publisher before sending.
  for (int i = 0; i < 50; ++i) {
    pub.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) pub.add_event(0);  // the subscriber does not read meanwhile
  pub.flush();
  const auto& c = pub.counters();
  EXPECT_GT(c.events_dropped_hwm, 0u);
  EXPECT_EQ(c.events_sent + c.events_dropped_hwm, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(c.batches_sent + c.batches_dropped_hwm, static_cast<std::uint64_t>(kEvents / 2));

  std::uint64_t received_events = 0, last_seq = 0, gaps = 0;
  Received r;
  while (receive(sub, r, 200)) {
    received_events += static_cast<std::uint64_t>(r.batch.events_size());
    gaps += r.batch.sequence() - last_seq - 1;  // missing numbers before this batch
    last_seq = r.batch.sequence();
  }
  EXPECT_EQ(received_events, c.events_sent);  // sent = delivered, exactly
  // Once the subscriber reads again, the next batch shows the gap.
  pub.add_event(0);
  pub.flush();
  ASSERT_TRUE(receive(sub, r));
  EXPECT_EQ(r.batch.sequence(), c.batches_sent + c.batches_dropped_hwm);
  EXPECT_EQ(r.batch.sequence() - last_seq - 1 + gaps, c.batches_dropped_hwm)
      << "every dropped batch is a missing sequence number";
}

TEST_F(PublisherTest, BadEndpointIsAClearError) {
  try {
    Publisher pub(ctx, PublishConfig{.endpoint = "tcp://256.1.1.1:1"}, "s", 1);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("publish.endpoint \"tcp://256.1.1.1:1\": cannot bind"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sniffer
