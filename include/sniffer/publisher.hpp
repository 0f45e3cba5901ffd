// Publishing over one ZeroMQ XPUB socket: each record kind is a batch stream
// with its own topic and sequence numbers. Message = [topic frame, batch].
// The capture thread never blocks: sends are non-blocking, and a batch
// refused at the high-water mark is counted as dropped (with all its items)
// and its sequence number is consumed, so subscribers see the gap.
//
// Workers (capture.workers) each batch their own records and share the one
// socket: it numbers the batches of a topic as it sends them, whichever
// worker made them, so a topic keeps one sequence; a batch's `worker` field
// says which worker made it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/config.hpp"
#include "sniffer/accepted_connections.hpp"
#include "sniffer/counters.hpp"  // PublishCounters
#include "sniffer/endpoint_bind.hpp"
#include "sniffer/ipc_socket_file.hpp"
#include "sniffer/log_throttle.hpp"
#include "sniffer/subscriptions.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

inline constexpr const char* kTopicPackets = "pkt";
inline constexpr const char* kTopicFlows = "flow";
inline constexpr const char* kTopicStats = "stats";

enum class SendResult { Delivered, NoSubscriber, HighWaterMark };

class PublishSocket {
 public:
  // The largest message a subscriber may send (a subscription: a byte and a
  // topic prefix); libzmq drops a peer that sends more. The limit also
  // applies to the CURVE handshake's commands (INITIATE is ~300 bytes with
  // its metadata): 256 refused every CURVE subscriber.
  static constexpr std::int64_t kMaxSubscriptionBytes = 512;
  // Messages queued from one peer before ZeroMQ stops reading it: what one
  // connection can add to the subscription trie between two of our reads
  // (subscribers send a few subscriptions, once).
  static constexpr int kSubscriptionQueue = 16;

  // With config.curve, a CURVE server in ZAP domain "publish": the context
  // needs a ZapAuthenticator that allows that domain (Pipeline makes one),
  // else every handshake fails. A tcp endpoint taken by someone else or not
  // the host's address yet is bound later (EndpointBind, from service());
  // meanwhile nobody subscribes.
  PublishSocket(zmq::context_t& ctx, const PublishConfig& config);
  // Sends [topic, payload] without blocking.
  SendResult send(const std::string& topic, const std::string& payload);
  // Sends [topic, batch] without blocking, the batch serialised in
  // bytes[kSequenceRoom..] without its sequence: the topic's next sequence
  // number (field 2) goes in front, in the room (protobuf reads fields in
  // any order); consumed whether or not the batch goes out. ZeroMQ takes
  // the bytes as they are, without a copy, and frees them.
  static constexpr std::size_t kSequenceRoom = 11;  // the field's tag byte and a 64-bit varint
  SendResult send_batch(const std::string& topic, std::unique_ptr<std::uint8_t[]> bytes, std::size_t size);
  // Whether any subscriber currently subscribes to a prefix of `topic`.
  bool has_subscriber(const std::string& topic);
  // Lets ZeroMQ apply what peers sent (subscriptions, closed connections) when
  // nothing is sent for a while: an idle socket kept every closed connection's memory.
  void service();
  // More distinct subscriptions than this from one peer (an IP address, an
  // ipc process) is abuse (a subscriber needs a few topics): its connections
  // are cut. More than kMaxSubscriptions from all peers at once: the peers
  // that subscribed last are cut until the rest is under it (every connection, when
  // the peers cannot be told apart). Cut subscribers reconnect by themselves.
  static constexpr std::size_t kMaxSubscriptionsPerPeer = 64;
  static constexpr std::size_t kMaxSubscriptions = 1024;
  // Connections accepted at once, at most (AcceptedConnections::cut_crowds);
  // less when the descriptor limit is low (connection_cap).
  static constexpr std::size_t kMaxConnections = 1024;
  std::uint64_t connection_cuts() const { return cuts_; }
  // Whether `peer` (a Peer-Address) subscribed since the start: crowd cuts
  // spare it until the peers that never did are gone.
  bool vouched(const std::string& peer) const { return connections_.vouched(peer); }
  // The endpoint as bound ("tcp://127.0.0.1:*" becomes the port chosen);
  // empty while not bound.
  const std::string& endpoint() const { return bind_.bound_endpoint(); }
  // Why it is not bound (empty once it is): the report's "endpoints".
  std::string refused() const;
  // Cuts every accepted connection, so that each subscriber authenticates
  // again (a subscriber key was removed: CURVE checks keys at the handshake
  // only). Subscribers reconnect by themselves. Returns how many were cut.
  std::size_t cut_for_reauthentication();

 private:
  // sending: a batch's send asks (the connections' monitor is then read
  // only when a subscription came, or every kConnectionsEvery-th time: each
  // read that finds nothing costs ZeroMQ a poll() call).
  void read_subscriptions(bool sending = false);
  static constexpr std::size_t kSubscriptionsPerRead = 4096;
  void cut_peer(const std::string& peer, std::size_t count, bool over_all);
  void cut_newest_peers();
  void cut_connections();
  bool has_subscriber_locked(const std::string& topic, bool sending = false);
  static constexpr unsigned kConnectionsEvery = 64;
  unsigned sends_since_connections_ = 0;
  SendResult send_locked(const std::string& topic, zmq::const_buffer payload);  // copied
  SendResult send_locked(const std::string& topic, zmq::message_t& payload);
  // [topic, payload] in one non-blocking send; false when NODROP refused it.
  bool send_pair(const std::string& topic, zmq::message_t& payload);

  bool isolate_slow_;  // publish.slow_subscriber "isolate"
  EndpointBind bind_;  // before the socket's users; the endpoint as bound
  mutable std::mutex mutex_;  // the workers share the socket; ZeroMQ sockets are not thread-safe
  IpcSocketFile ipc_file_;  // before the socket: checked before the bind, removed after the close
  zmq::socket_t socket_;
  std::map<std::string, std::uint64_t> sequences_;  // per topic: the last number sent
  Subscriptions subscriptions_;
  AcceptedConnections connections_;  // after the socket: monitors it
  std::size_t max_connections_ = kMaxConnections;
  std::uint64_t cuts_ = 0;            // times connections were cut (a peer's, or all)
  LogThrottle cut_log_{LogThrottle::Limits{.interval_ns = 10'000'000'000, .max_lines = 4}};  // per peer ("": all)
};

// A batch's wire bytes as send_batch takes them: `size` bytes, the first
// PublishSocket::kSequenceRoom of them left for the sequence number.
struct SerialisedBatch {
  std::unique_ptr<std::uint8_t[]> bytes;
  std::size_t size = 0;
};

// Flow records, batched as a FlowBatch message: the caller fills each
// record, and the message is serialised once when the batch is sent.
class FlowBatchPayload {
 public:
  FlowBatchPayload(const std::string& sensor_id, std::uint64_t sensor_start_ns, std::uint32_t worker) {
    batch_.set_sensor_id(sensor_id);
    batch_.set_sensor_start_ns(sensor_start_ns);
    batch_.set_worker(worker);
  }
  v1::FlowRecord* add() { return batch_.mutable_flows()->Add(); }
  std::uint32_t size() const { return static_cast<std::uint32_t>(batch_.flows_size()); }
  // The serialised batch, in an exact-size buffer; empties the batch.
  SerialisedBatch take();

 private:
  v1::FlowBatch batch_;
};

// Accumulates items in a Payload (FlowBatchPayload, EventWireBatch) and sends them
// in batches bounded by count and age. A Payload has size(), take() and an
// add(...) that appends one item.
template <typename Payload>
class BatchStream {
 public:
  BatchStream(PublishSocket& socket, const char* topic, const PublishConfig& config, const std::string& sensor_id,
              std::uint64_t sensor_start_ns, std::uint32_t worker = 0)
      : socket_(socket), topic_(topic), max_items_(config.batch_max_events),
        max_age_ns_(std::uint64_t{config.batch_max_latency_ms} * 1000000u), payload_(sensor_id, sensor_start_ns, worker) {}

  // Appends an item to the pending batch: Payload::add(args...), whose
  // result it returns (FlowBatchPayload: the new record, for the caller to fill).
  template <typename... Args>
  decltype(auto) add(std::uint64_t now_mono_ns, Args&&... args) {
    if (pending() >= max_items_) flush();
    if (pending() == 0) started_ns_ = now_mono_ns;
    return payload_.add(std::forward<Args>(args)...);
  }
  // Sends the pending batch when it is full or older than the latency bound.
  void flush_if_due(std::uint64_t now_mono_ns) {
    if (pending() > 0 && (pending() >= max_items_ || now_mono_ns - started_ns_ >= max_age_ns_)) flush();
  }
  // Milliseconds until the pending batch is due, or -1 when empty.
  int ms_until_due(std::uint64_t now_mono_ns) const {
    if (pending() == 0) return -1;
    std::uint64_t due = started_ns_ + max_age_ns_;
    return due <= now_mono_ns ? 0 : static_cast<int>((due - now_mono_ns + 999999) / 1000000);
  }
  void flush() {
    std::uint64_t n = pending();
    if (n == 0) return;
    SerialisedBatch batch = payload_.take();
    const std::uint64_t age_ns = now_ns() - started_ns_;
    switch (socket_.send_batch(topic_, std::move(batch.bytes), batch.size)) {
      case SendResult::NoSubscriber:
        counters_.batches_unsubscribed++;
        counters_.items_unsubscribed += n;
        [[fallthrough]];
      case SendResult::Delivered:
        counters_.batches_sent++;
        counters_.items_sent += n;
        counters_.batch_age_ns_sum += age_ns;
        break;
      case SendResult::HighWaterMark:
        counters_.batches_dropped_hwm++;
        counters_.items_dropped_hwm += n;
        break;
    }
  }
  std::uint32_t pending() const { return payload_.size(); }
  const PublishCounters& counters() const { return counters_; }
  Payload& payload() { return payload_; }

 private:
  static std::uint64_t now_ns() { return monotonic_now_ns(); }

  PublishSocket& socket_;
  std::string topic_;
  std::uint32_t max_items_;
  std::uint64_t max_age_ns_;
  Payload payload_;
  std::uint64_t started_ns_ = 0;
  PublishCounters counters_;
};

// Packet events go as EventWireBatch (sniffer/event_wire.hpp): encoded
// straight from the records, without a PacketEvent message.
using FlowStream = BatchStream<FlowBatchPayload>;

}  // namespace sniffer
