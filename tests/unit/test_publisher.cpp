// Publishing over inproc ZeroMQ: batching bounds, topics, sequence numbers
// per topic, and exact high-water-mark drop accounting.
#include <chrono>
#include <map>
#include <numeric>
#include <thread>

#include <unistd.h>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "sniffer/event_wire.hpp"
#include "sniffer/publisher.hpp"

namespace sniffer {
namespace {

struct Received {
  std::string topic;
  std::string body;
};

bool receive(zmq::socket_t& sub, Received& out, int timeout_ms = 1000) {
  sub.set(zmq::sockopt::rcvtimeo, timeout_ms);
  zmq::message_t topic, body;
  if (!sub.recv(topic)) return false;
  EXPECT_TRUE(topic.more());
  EXPECT_TRUE(sub.recv(body));
  out.topic = topic.to_string();
  out.body = body.to_string();
  return true;
}

// An event whose only set field is src_port (besides the role every event has).
void add_event(EventStream& events, std::uint64_t now_mono_ns, std::uint16_t src_port = 0) {
  DecodedRecord record;
  record.header.sport = src_port;
  events.add(now_mono_ns, record, nullptr, 0, "");
}

class PublisherTest : public ::testing::Test {
 protected:
  zmq::context_t ctx{1};

  zmq::socket_t subscribe(const std::string& endpoint, const std::string& topic = "", int rcvhwm = 1000) {
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::rcvhwm, rcvhwm);
    sub.set(zmq::sockopt::subscribe, topic);
    sub.connect(endpoint);
    return sub;
  }
};

TEST_F(PublisherTest, BatchesByCountWithTopicAndSequence) {
  PublishConfig cfg{.endpoint = "inproc://count", .batch_max_events = 3, .batch_max_latency_ms = 60000};
  PublishSocket socket(ctx, cfg);
  EventStream events(socket, kTopicPackets, cfg, "sensor-a", 1234);
  auto sub = subscribe(cfg.endpoint);
  for (int i = 0; i < 7; ++i) add_event(events, 0, static_cast<std::uint16_t>(1000 + i));
  events.flush();  // the partial batch

  std::vector<int> sizes;
  std::vector<std::uint64_t> sequences;
  Received r;
  std::uint32_t expected_port = 1000;
  while (receive(sub, r, 200)) {
    EXPECT_EQ(r.topic, kTopicPackets);
    v1::EventBatch batch;
    ASSERT_TRUE(batch.ParseFromString(r.body));
    EXPECT_EQ(batch.sensor_id(), "sensor-a");
    EXPECT_EQ(batch.sensor_start_ns(), 1234u);
    sizes.push_back(batch.events_size());
    sequences.push_back(batch.sequence());
    for (const auto& e : batch.events()) EXPECT_EQ(e.src_port(), expected_port++);
  }
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 1}));
  EXPECT_EQ(sequences, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(events.counters().items_sent, 7u);
  EXPECT_EQ(events.counters().batches_sent, 3u);
}

TEST_F(PublisherTest, TopicsHaveTheirOwnSequencesAndSubscriptions) {
  PublishConfig cfg{.endpoint = "inproc://topics", .batch_max_events = 1, .batch_max_latency_ms = 60000};
  PublishSocket socket(ctx, cfg);
  EventStream events(socket, kTopicPackets, cfg, "s", 1);
  FlowStream flows(socket, kTopicFlows, cfg, "s", 1);
  auto flow_sub = subscribe(cfg.endpoint, kTopicFlows);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the subscription arrive
  add_event(events, 0);
  events.flush();
  flows.add(0)->set_flow_id(42);
  flows.add(0)->set_flow_id(43);  // batch_max_events 1: the first is sent here
  flows.flush();
  Received r;
  std::vector<std::uint64_t> ids, sequences;
  while (receive(flow_sub, r, 200)) {
    EXPECT_EQ(r.topic, kTopicFlows);  // no "pkt" message reaches a "flow" subscriber
    v1::FlowBatch batch;
    ASSERT_TRUE(batch.ParseFromString(r.body));
    sequences.push_back(batch.sequence());
    for (const auto& f : batch.flows()) ids.push_back(f.flow_id());
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{42, 43}));
  EXPECT_EQ(sequences, (std::vector<std::uint64_t>{1, 2}));  // independent of the pkt stream
}

// capture.workers: each worker's stream batches its own items on its own
// thread; the socket numbers the batches of a topic in one sequence, and a
// batch says which worker made it.
TEST_F(PublisherTest, WorkersOnOneSocketShareTheTopicsSequence) {
  PublishConfig cfg{.endpoint = "inproc://workers", .batch_max_events = 1, .batch_max_latency_ms = 60000,
                    .send_hwm = 100000};
  PublishSocket socket(ctx, cfg);
  auto sub = subscribe(cfg.endpoint, "", 100000);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  constexpr int kPerWorker = 300;  // past 127: two-byte sequence varints too
  std::vector<std::thread> threads;
  for (std::uint32_t w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      EventStream events(socket, kTopicPackets, cfg, "s", 1, w);
      for (int i = 0; i < kPerWorker; ++i) add_event(events, 0, static_cast<std::uint16_t>(i));
      events.flush();
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::uint64_t> sequences;
  std::map<std::uint32_t, std::vector<std::uint32_t>> ports_by_worker;
  Received r;
  while (receive(sub, r, 200)) {
    v1::EventBatch batch;
    ASSERT_TRUE(batch.ParseFromString(r.body));
    sequences.push_back(batch.sequence());
    for (const auto& e : batch.events()) ports_by_worker[batch.worker()].push_back(e.src_port());
  }
  std::vector<std::uint64_t> expected(2 * kPerWorker);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(sequences, expected);  // in sending order, whoever sent
  for (std::uint32_t w = 0; w < 2; ++w) {
    ASSERT_EQ(ports_by_worker[w].size(), static_cast<std::size_t>(kPerWorker)) << w;
    for (int i = 0; i < kPerWorker; ++i) EXPECT_EQ(ports_by_worker[w][i], static_cast<std::uint32_t>(i));
  }
}

TEST_F(PublisherTest, BatchesNobodySubscribedToAreCountedApart) {
  PublishConfig cfg{.endpoint = "inproc://nobody", .batch_max_events = 1, .batch_max_latency_ms = 60000};
  PublishSocket socket(ctx, cfg);
  EventStream events(socket, kTopicPackets, cfg, "s", 1);
  FlowStream flows(socket, kTopicFlows, cfg, "s", 1);
  add_event(events, 0);
  events.flush();  // no subscriber at all
  auto sub = subscribe(cfg.endpoint, kTopicPackets);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  add_event(events, 0);
  events.flush();  // now somebody wants "pkt"...
  flows.add(0);
  flows.flush();  // ...but nobody "flow"
  EXPECT_EQ(events.counters().batches_sent, 2u);
  EXPECT_EQ(events.counters().batches_unsubscribed, 1u);
  EXPECT_EQ(flows.counters().batches_unsubscribed, 1u);
  Received r;
  ASSERT_TRUE(receive(sub, r));
  v1::EventBatch batch;
  ASSERT_TRUE(batch.ParseFromString(r.body));
  EXPECT_EQ(batch.sequence(), 2u);  // the first went to nobody, as counted
  EXPECT_FALSE(receive(sub, r, 100));
}

TEST_F(PublisherTest, LatencyBoundFlushesAPartialBatch) {
  PublishConfig cfg{.endpoint = "inproc://latency", .batch_max_events = 100, .batch_max_latency_ms = 5};
  PublishSocket socket(ctx, cfg);
  EventStream events(socket, kTopicPackets, cfg, "s", 1);
  auto sub = subscribe(cfg.endpoint);
  add_event(events, 1000000000);
  events.flush_if_due(1000000000 + 4000000);  // 4 ms: not yet
  EXPECT_EQ(events.pending(), 1u);
  EXPECT_EQ(events.ms_until_due(1000000000 + 4000000), 1);
  events.flush_if_due(1000000000 + 5000000);  // 5 ms: due
  EXPECT_EQ(events.pending(), 0u);
  Received r;
  ASSERT_TRUE(receive(sub, r));
  EXPECT_EQ(events.ms_until_due(0), -1);
}

TEST_F(PublisherTest, HighWaterMarkDropsAreCountedAndLeaveSequenceGaps) {
  PublishConfig cfg{.endpoint = "inproc://hwm", .batch_max_events = 2, .batch_max_latency_ms = 60000, .send_hwm = 2,
                    .slow_subscriber = SlowSubscriber::AllOrNone};  // all_or_none: the counts are exact
  PublishSocket socket(ctx, cfg);
  EventStream events(socket, kTopicPackets, cfg, "s", 1);
  auto sub = subscribe(cfg.endpoint, "", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the subscription arrive
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) add_event(events, 0);  // the subscriber does not read meanwhile
  events.flush();
  const auto& c = events.counters();
  EXPECT_GT(c.items_dropped_hwm, 0u);
  EXPECT_EQ(c.items_sent + c.items_dropped_hwm, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(c.batches_sent + c.batches_dropped_hwm, static_cast<std::uint64_t>(kEvents / 2));

  std::uint64_t received_events = 0, last_seq = 0, gaps = 0;
  Received r;
  v1::EventBatch batch;
  while (receive(sub, r, 200)) {
    ASSERT_TRUE(batch.ParseFromString(r.body));
    received_events += static_cast<std::uint64_t>(batch.events_size());
    gaps += batch.sequence() - last_seq - 1;  // missing numbers before this batch
    last_seq = batch.sequence();
  }
  EXPECT_EQ(received_events, c.items_sent);  // sent = delivered, exactly
  // Once the subscriber reads again, the next batch shows the gap.
  add_event(events, 0);
  events.flush();
  ASSERT_TRUE(receive(sub, r));
  ASSERT_TRUE(batch.ParseFromString(r.body));
  EXPECT_EQ(batch.sequence(), c.batches_sent + c.batches_dropped_hwm);
  EXPECT_EQ(batch.sequence() - last_seq - 1 + gaps, c.batches_dropped_hwm)
      << "every dropped batch is a missing sequence number";
}

// A tcp port held by root or our own user is a clash of configuration: an
// error naming the key and the holder. (One held by another user, a squatter,
// is waited for: test_port_squatters.py.)
TEST_F(PublisherTest, APortWeHoldIsAClearErrorNamingTheHolder) {
  PublishSocket first(ctx, PublishConfig{.endpoint = "tcp://127.0.0.1:*"});
  const std::string taken = first.endpoint();
  ASSERT_FALSE(taken.empty());
  zmq::context_t own;  // one publish socket a context (its monitor's inproc name)
  try {
    PublishSocket second(own, PublishConfig{.endpoint = taken});
    FAIL() << "bound a port already in use";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("publish.endpoint \"" + taken + "\": cannot bind: Address already in use, held "
                                         "by uid " + std::to_string(geteuid())),
              std::string::npos)
        << e.what();
  }
}

TEST_F(PublisherTest, BadEndpointIsAClearError) {
  try {
    PublishSocket socket(ctx, PublishConfig{.endpoint = "tcp://256.1.1.1:1"});
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("publish.endpoint \"tcp://256.1.1.1:1\": cannot bind"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sniffer
