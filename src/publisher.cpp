#include "sniffer/publisher.hpp"

#include "sniffer/error.hpp"

namespace sniffer {

Publisher::Publisher(zmq::context_t& ctx, const PublishConfig& config, const std::string& sensor_id,
                     std::uint64_t sensor_start_ns)
    : socket_(ctx, zmq::socket_type::xpub), config_(config) {
  socket_.set(zmq::sockopt::sndhwm, config.send_hwm);
  // NODROP: at the high-water mark a non-blocking send fails with EAGAIN
  // instead of PUB's silent discard, so every drop is counted.
  socket_.set(zmq::sockopt::xpub_nodrop, 1);
  socket_.set(zmq::sockopt::linger, 2000);
  try {
    socket_.bind(config.endpoint);
  } catch (const zmq::error_t& e) {
    throw Error("publish.endpoint \"" + config.endpoint + "\": cannot bind: " + e.what());
  }
  batch_.set_sensor_id(sensor_id);
  batch_.set_sensor_start_ns(sensor_start_ns);
}

v1::PacketEvent* Publisher::add_event(std::uint64_t now_mono_ns) {
  if (static_cast<std::uint32_t>(batch_.events_size()) >= config_.batch_max_events) flush();
  if (batch_.events_size() == 0) batch_started_ns_ = now_mono_ns;
  return batch_.add_events();
}

void Publisher::flush_if_due(std::uint64_t now_mono_ns) {
  if (batch_.events_size() == 0) return;
  bool full = static_cast<std::uint32_t>(batch_.events_size()) >= config_.batch_max_events;
  bool old = now_mono_ns - batch_started_ns_ >= std::uint64_t{config_.batch_max_latency_ms} * 1000000u;
  if (full || old) flush();
}

int Publisher::ms_until_due(std::uint64_t now_mono_ns) const {
  if (batch_.events_size() == 0) return -1;
  std::uint64_t due = batch_started_ns_ + std::uint64_t{config_.batch_max_latency_ms} * 1000000u;
  return due <= now_mono_ns ? 0 : static_cast<int>((due - now_mono_ns + 999999) / 1000000);
}

void Publisher::flush() {
  drain_subscriptions();
  auto n = static_cast<std::uint64_t>(batch_.events_size());
  if (n == 0) return;
  batch_.set_sequence(++sequence_);
  batch_.SerializeToString(&buffer_);
  auto sent = socket_.send(zmq::buffer(std::string_view(kTopicPackets)),
                           zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  if (sent) sent = socket_.send(zmq::buffer(buffer_), zmq::send_flags::dontwait);
  if (sent) {
    counters_.batches_sent++;
    counters_.events_sent += n;
  } else {
    counters_.batches_dropped_hwm++;
    counters_.events_dropped_hwm += n;
  }
  batch_.clear_events();
}

void Publisher::drain_subscriptions() {
  // XPUB hands subscription messages to the application; read and discard
  // them so they do not pile up.
  zmq::message_t msg;
  while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
  }
}

}  // namespace sniffer
