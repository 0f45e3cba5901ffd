#include "sniffer/publisher.hpp"

#include "sniffer/error.hpp"

namespace sniffer {

PublishSocket::PublishSocket(zmq::context_t& ctx, const PublishConfig& config)
    : socket_(ctx, zmq::socket_type::xpub) {
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
}

bool PublishSocket::send(const char* topic, const std::string& payload) {
  // XPUB hands subscription messages to the application: read and discard
  // them so that they do not pile up.
  zmq::message_t subscription;
  while (socket_.recv(subscription, zmq::recv_flags::dontwait)) {
  }
  auto sent = socket_.send(zmq::buffer(std::string_view(topic)), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  // A multipart message is atomic: once the first frame is queued, so is the rest.
  return sent && socket_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
}

}  // namespace sniffer
