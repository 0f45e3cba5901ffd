#include "sniffer/endpoint_bind.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "sniffer/error.hpp"
#include "sniffer/endpoint_holders.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

EndpointBind::EndpointBind(std::string key, std::string endpoint, std::string meanwhile)
    : key_(std::move(key)), endpoint_(std::move(endpoint)), meanwhile_(std::move(meanwhile)) {}

int EndpointBind::attempt(zmq::socket_t& socket) {
  try {
    socket.bind(endpoint_);
  } catch (const zmq::error_t& e) {
    // tcp://ADDR:PORT, or ipc://@NAME (an abstract name: anyone may take it too)
    const bool tcp = endpoint_.rfind("tcp://", 0) == 0, abstract = endpoint_.rfind("ipc://@", 0) == 0;
    const std::string port = endpoint_.substr(endpoint_.rfind(':') + 1);
    std::set<std::uint32_t> holders;
    if (e.num() == EADDRINUSE && abstract) {
      holders = abstract_name_holders(endpoint_.substr(7));
    } else if (e.num() == EADDRINUSE && tcp && !port.empty() &&
               port.find_first_not_of("0123456789") == std::string::npos) {
      holders = tcp_port_holders(std::stoi(port));
    }
    refused_ = e.what() + held_by(holders);
    may_wait_ = (tcp || abstract) && bind_may_wait(e.num(), holders);
    next_ns_ = monotonic_now_ns() + kRebindSeconds * 1'000'000'000ULL;
    return e.num();
  }
  bound_ = socket.get(zmq::sockopt::last_endpoint);
  return 0;
}

bool EndpointBind::start(zmq::socket_t& socket) {
  if (attempt(socket) == 0) return true;
  if (!may_wait_) throw Error(key_ + " \"" + endpoint_ + "\": cannot bind: " + refused_);
  spdlog::error("{} \"{}\": cannot bind: {}; the sensor runs without it ({}) and tries again every {} s", key_,
                endpoint_, refused_, meanwhile_, kRebindSeconds);
  return false;
}

bool EndpointBind::try_bind(zmq::socket_t& socket) {
  if (bound()) return true;
  if (monotonic_now_ns() < next_ns_) return false;
  const std::string before = refused_;
  if (attempt(socket) != 0) return false;
  spdlog::info("{}: bound {} now (before: {})", key_, bound_, before);
  return true;
}

}  // namespace sniffer
