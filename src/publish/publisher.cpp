#include "sniffer/publisher.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <spdlog/spdlog.h>

#include "sniffer/curve_auth.hpp"
#include "sniffer/error.hpp"
#include "sniffer/open_files_limit.hpp"

namespace sniffer {

PublishSocket::PublishSocket(zmq::context_t& ctx, const PublishConfig& config)
    : isolate_slow_(config.slow_subscriber == SlowSubscriber::Isolate),
      bind_("publish.endpoint", config.endpoint, "its events count as sent to no subscriber"),
      ipc_file_(config.endpoint, "publish.endpoint"),
      socket_(ctx, zmq::socket_type::xpub),
      connections_(ctx, socket_, "publish") {
  socket_.set(zmq::sockopt::sndhwm, config.send_hwm);
  // NODROP: at the high-water mark a non-blocking send fails with EAGAIN
  // instead of PUB's silent discard, so every drop is counted.
  socket_.set(zmq::sockopt::xpub_nodrop, 1);
  // VERBOSE: every subscription is handed up, not only a prefix's first, so
  // that each subscriber is seen (vouched for, remembered): a detector whose
  // topics another peer held first counted as one that never subscribed,
  // and went first in every crowd cut (red team R14-3).
  socket_.set(zmq::sockopt::xpub_verbose, 1);
  socket_.set(zmq::sockopt::linger, 2000);
  // An idle or unauthenticated connection holds a descriptor until its
  // handshake times out: 5 s instead of ZeroMQ's 30.
  socket_.set(zmq::sockopt::handshake_ivl, 5000);
  // What subscribers send is subscriptions: a byte and a topic prefix ("pkt",
  // "flow", "stats"). A larger message is refused and its sender dropped:
  // one 50 MB subscription grew ZeroMQ's subscription trie (in the sending
  // thread) to gigabytes and stalled every subscriber.
  socket_.set(zmq::sockopt::maxmsgsize, kMaxSubscriptionBytes);
  // Many small distinct subscriptions cost as much (each is kept until its
  // peer leaves): a bounded queue per peer, and a bound on their number
  // (kMaxSubscriptions, read_subscriptions).
  socket_.set(zmq::sockopt::rcvhwm, kSubscriptionQueue);
  if (config.curve) {
    // Subscribers must hold a listed key and this sensor's public key; the
    // context's ZapAuthenticator (domain "publish") decides who is admitted.
    CurveKeyPair keys = load_secret_key_file(config.curve->secret_key_file);
    make_curve_server(socket_, keys, kZapDomainPublish);
    spdlog::info("publish: CURVE on (encrypted, subscribers authenticated); this sensor's public key is {}",
                 keys.public_z85);
  } else if (config.endpoint.rfind("tcp://", 0) == 0) {
    spdlog::warn("publish: {} is unauthenticated and unencrypted: anyone who can reach it reads the stream "
                 "(configure publish.curve)",
                 config.endpoint);
  }
  max_connections_ = connection_cap(raised_open_files_limit(), kMaxConnections);
  if (bind_.start(socket_)) ipc_file_.bound();
}

void PublishSocket::read_subscriptions(bool sending) {
  // XPUB hands subscription messages to the application: byte 1 subscribes,
  // byte 0 unsubscribes, the rest is the topic prefix. Reading them also lets
  // ZeroMQ apply them before the next send, so our view matches its own.
  zmq::message_t msg;
  bool heard = !sending || ++sends_since_connections_ >= kConnectionsEvery;
  // Bounded a call: repeated subscriptions now reach us too, and a peer
  // sending them in a loop must not hold the sending thread here.
  for (std::size_t n = 0; n < kSubscriptionsPerRead && socket_.recv(msg, zmq::recv_flags::dontwait); ++n) {
    heard = true;
    if (msg.size() < 1) continue;
    std::string prefix(static_cast<const char*>(msg.data()) + 1, msg.size() - 1);
    const char* peer = zmq_msg_gets(msg.handle(), "Peer-Address");  // null for an unsubscription
    subscriptions_.apply(*static_cast<const std::uint8_t*>(msg.data()) == 1, prefix, peer ? peer : "");
    if (peer != nullptr) connections_.vouch(peer);
  }
  // The monitor's events (connections accepted and gone) are read, crowds
  // and abusers cut, when a subscription came and on every service(), but
  // only every kConnectionsEvery-th batch's send: each read that finds
  // nothing costs ZeroMQ a poll() call, and without a new subscription the
  // book has not changed.
  if (!heard) return;
  sends_since_connections_ = 0;
  for (const auto& [peer, count] : connections_.cut_crowds(bind_.bound_endpoint(), max_connections_)) {
    ++cuts_;
    if (cut_log_.check("*crowd*", monotonic_now_ns()).log) {
      spdlog::warn("publish: more than {} connections at once (each a descriptor, before any handshake): cut the {} "
                   "connection(s) of peer {} (peers that never subscribed go first, the most connections and the "
                   "newest first)", max_connections_, count, peer);
    }
  }
  for (const auto& [peer, count] : subscriptions_.peers_over(kMaxSubscriptionsPerPeer)) cut_peer(peer, count, false);
  if (subscriptions_.size() > kMaxSubscriptions) cut_newest_peers();
}

// Too many distinct subscriptions over all peers, each under its own bound
// (an abuser with many addresses): the peers that subscribed last are cut
// until what is left is under the bound, so that the subscribers already
// served keep their place. Cutting the largest first let many peers with two
// subscriptions each cut a detector with three on every reconnection
// (red team R13-2). Prefixes no peer can be told by (unknown peers) leave
// only the last resort: every connection is cut.
void PublishSocket::cut_newest_peers() {
  std::size_t left = subscriptions_.size();
  for (const auto& [peer, count] : subscriptions_.peers_newest_first()) {
    if (left <= kMaxSubscriptions) return;
    cut_peer(peer, count, true);  // a peer cut before, whose unsubscriptions are still to come, too
    left -= count;
  }
  if (left > kMaxSubscriptions) cut_connections();
}

// ZeroMQ keeps every distinct subscription (in the sending thread's memory)
// until its peer leaves, whatever their number: 36 MB of them grew the daemon
// by 670 MB. A peer charged with more than a subscriber needs is cut alone
// (every connection from its address): the others keep receiving. Its
// subscriptions go with it (the unsubscriptions follow); until they arrive,
// every read cuts its new connections again.
void PublishSocket::cut_peer(const std::string& peer, std::size_t count, bool over_all) {
  const std::size_t cut = connections_.cut_peer(bind_.bound_endpoint(), peer);
  if (cut == 0) return;
  ++cuts_;
  // Cuts for the bound over all peers are logged together: one line per 10 s
  // however many addresses a flood comes from.
  const LogThrottle::Verdict v = cut_log_.check(over_all ? std::string("*all peers*") : peer, monotonic_now_ns());
  if (!v.log) return;
  const std::string why = over_all ? fmt::format("one of the last to subscribe of {} distinct subscriptions from "
                                                 "all peers (at most {})", subscriptions_.size(), kMaxSubscriptions)
                                   : fmt::format("at most {} a peer", kMaxSubscriptionsPerPeer);
  spdlog::warn("publish: peer {} holds {} distinct subscriptions ({}; a subscriber needs a few topics): cut its {} "
               "connection(s) ({} cuts so far, {} more about it not logged)",
               peer, count, why, cut, cuts_, v.left_out);
}

// Every connection is cut. Subscribers reconnect by themselves; what they missed shows as
// sequence gaps. Until the cut connections' unsubscriptions arrive, every
// read cuts again (only connections opened since).
void PublishSocket::cut_connections() {
  const std::size_t cut = connections_.cut_all(bind_.bound_endpoint());
  if (cut == 0) return;
  ++cuts_;
  const LogThrottle::Verdict v = cut_log_.check("", monotonic_now_ns());
  if (!v.log) return;
  spdlog::warn("publish: {} distinct subscriptions (more than {}; a subscriber needs a few topics): cut all {} "
               "connection(s) ({} cuts so far); subscribers reconnect, and see what they missed as sequence gaps",
               subscriptions_.size(), kMaxSubscriptions, cut, cuts_);
}

std::size_t PublishSocket::cut_for_reauthentication() {
  std::lock_guard lock(mutex_);
  return connections_.cut_all(bind_.bound_endpoint());
}

std::string PublishSocket::refused() const {
  std::lock_guard lock(mutex_);
  return bind_.refused();
}

void PublishSocket::service() {
  std::lock_guard lock(mutex_);
  if (!bind_.try_bind(socket_)) return;
  read_subscriptions();
}

bool PublishSocket::has_subscriber_locked(const std::string& topic, bool sending) {
  read_subscriptions(sending);
  return subscriptions_.wanted(topic);
}

bool PublishSocket::has_subscriber(const std::string& topic) {
  std::lock_guard lock(mutex_);
  return has_subscriber_locked(topic);
}

SendResult PublishSocket::send(const std::string& topic, const std::string& payload) {
  std::lock_guard lock(mutex_);
  return send_locked(topic, zmq::buffer(payload));
}

SendResult PublishSocket::send_batch(const std::string& topic, std::unique_ptr<std::uint8_t[]> bytes,
                                     std::size_t size) {
  std::lock_guard lock(mutex_);
  using google::protobuf::io::CodedOutputStream;
  static_assert(int{v1::FlowBatch::kSequenceFieldNumber} == int{v1::EventBatch::kSequenceFieldNumber});
  constexpr std::uint32_t kTag = v1::EventBatch::kSequenceFieldNumber << 3;  // wire type 0: varint
  const std::uint64_t sequence = ++sequences_[topic];
  const std::size_t start =
      kSequenceRoom - CodedOutputStream::VarintSize32(kTag) - CodedOutputStream::VarintSize64(sequence);
  CodedOutputStream::WriteVarint64ToArray(sequence, CodedOutputStream::WriteTagToArray(kTag, bytes.get() + start));
  std::uint8_t* owned = bytes.release();  // the message frees it, sent or not
  zmq::message_t payload(owned + start, size - start, [](void*, void* hint) { delete[] static_cast<std::uint8_t*>(hint); },
                         owned);
  return send_locked(topic, payload);
}

SerialisedBatch FlowBatchPayload::take() {
  SerialisedBatch out;
  out.size = PublishSocket::kSequenceRoom + batch_.ByteSizeLong();
  out.bytes.reset(new std::uint8_t[out.size]);  // not zeroed: every byte is written or skipped
  batch_.SerializeWithCachedSizesToArray(out.bytes.get() + PublishSocket::kSequenceRoom);
  batch_.mutable_flows()->Clear();
  return out;
}

SendResult PublishSocket::send_locked(const std::string& topic, zmq::const_buffer payload) {
  zmq::message_t message(payload.data(), payload.size());
  return send_locked(topic, message);
}

SendResult PublishSocket::send_locked(const std::string& topic, zmq::message_t& payload) {
  bool wanted = has_subscriber_locked(topic, true);
  if (send_pair(topic, payload)) return wanted ? SendResult::Delivered : SendResult::NoSubscriber;
  if (isolate_slow_) {
    // A subscriber's queue is full, and NODROP refused the batch to all.
    // Sent again without NODROP it reaches every subscriber with room; the
    // full ones lose it, and ZeroMQ skips them (uncounted) until they drain:
    // each sees its loss as gaps in its sequence numbers. One stuck
    // subscriber must not blind the others. Counted here once, as an HWM drop.
    socket_.set(zmq::sockopt::xpub_nodrop, 0);
    send_pair(topic, payload);
    socket_.set(zmq::sockopt::xpub_nodrop, 1);
  }
  return SendResult::HighWaterMark;
}

bool PublishSocket::send_pair(const std::string& topic, zmq::message_t& payload) {
  auto sent = socket_.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  // A multipart message is atomic: once the first frame is queued, so is the rest.
  return sent && socket_.send(payload, zmq::send_flags::dontwait);
}

}  // namespace sniffer
