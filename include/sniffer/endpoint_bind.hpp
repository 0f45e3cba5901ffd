// Binding a ZeroMQ socket (publish, control) to its configured endpoint: now,
// or later when a tcp port or an abstract ipc name is held by another user
// than root and ours (any local user may take one before the sensor does:
// endpoint_holders.hpp) or a tcp address is not the host's yet (DHCP, a VRRP
// address). Neither may keep the sensor off the wire: it runs without the
// endpoint, says so naming the holder, and binds once it can (red team, round
// 16). Other failures at start (a port root or we hold, a bad address, an
// ipc path) are errors naming the key; once running without it, no retry's
// failure is (endpoint_retry.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "sniffer/endpoint_retry.hpp"

namespace sniffer {

class EndpointBind {
 public:
  // key: the config key ("publish.endpoint"); meanwhile: what running
  // without it means, for the log.
  EndpointBind(std::string key, std::string endpoint, std::string meanwhile);
  // Binds `socket` now: true when bound; false when it passes (logged);
  // throws Error otherwise.
  bool start(zmq::socket_t& socket);
  // Whether it is bound, trying again first (every kRebindSeconds) while
  // not; a failure is logged when its reason is new, never thrown.
  bool try_bind(zmq::socket_t& socket);
  bool bound() const { return !bound_.empty(); }
  // The endpoint as bound ("tcp://127.0.0.1:*" with the port chosen); empty while not.
  const std::string& bound_endpoint() const { return bound_; }
  // Why it is not bound (empty once it is, or before start()).
  const std::string& refused() const { return retry_.refused(); }

 private:
  int attempt(zmq::socket_t& socket);  // 0 or errno (refused_ says why, may_wait_ whether start() may pass)

  std::string key_, endpoint_;
  std::string refused_;  // why the last attempt failed
  std::string reason_;   // the same without the holders' processes (endpoint_retry.hpp)
  bool may_wait_ = false;  // a tcp port or an abstract name whose failure bind_may_wait() lets pass
  std::string bound_;
  EndpointRetry retry_;  // while not bound: when to try again, what was said
};

}  // namespace sniffer
