#include "sniffer/endpoint_bind.hpp"

#include <cerrno>

#include "sniffer/error.hpp"
#include "sniffer/endpoint_holders.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

EndpointBind::EndpointBind(std::string key, std::string endpoint, std::string meanwhile)
    : key_(std::move(key)), endpoint_(std::move(endpoint)), retry_(key_, endpoint_, "it (" + meanwhile + ")") {}

int EndpointBind::attempt(zmq::socket_t& socket) {
  try {
    socket.bind(endpoint_);
  } catch (const zmq::error_t& e) {
    // tcp://ADDR:PORT, or ipc://@NAME (an abstract name: anyone may take it too)
    const bool tcp = endpoint_.rfind("tcp://", 0) == 0, abstract = endpoint_.rfind("ipc://@", 0) == 0;
    const std::string port = endpoint_.substr(endpoint_.rfind(':') + 1);
    std::vector<EndpointHolder> holders;
    if (e.num() == EADDRINUSE && abstract) {
      holders = abstract_name_holders(endpoint_.substr(7));
    } else if (e.num() == EADDRINUSE && tcp && !port.empty() &&
               port.find_first_not_of("0123456789") == std::string::npos) {
      holders = tcp_port_holders(std::stoi(port));
    }
    const std::string failure = std::string("cannot bind: ") + e.what();
    refused_ = failure + held_by(holders);
    reason_ = failure + held_by_uids(holders);
    may_wait_ = (tcp || abstract) && bind_may_wait(e.num(), holders);
    return e.num();
  }
  bound_ = socket.get(zmq::sockopt::last_endpoint);
  return 0;
}

bool EndpointBind::start(zmq::socket_t& socket) {
  if (attempt(socket) == 0) return true;
  if (!may_wait_) throw Error(key_ + " \"" + endpoint_ + "\": " + refused_);
  retry_.start_failed(refused_, reason_, monotonic_now_ns());
  return false;
}

bool EndpointBind::try_bind(zmq::socket_t& socket) {
  if (bound()) return true;
  if (!retry_.due(monotonic_now_ns())) return false;
  // Whatever the reason now, the run goes on without it (endpoint_retry.hpp).
  if (attempt(socket) != 0) {
    retry_.retry_failed(refused_, reason_, !may_wait_, monotonic_now_ns());
    return false;
  }
  retry_.bound(bound_);
  return true;
}

}  // namespace sniffer
