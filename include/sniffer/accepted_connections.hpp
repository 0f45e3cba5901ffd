// The connections a bound ZeroMQ socket accepted, learnt from its monitor,
// so that they can be cut: libzmq has no call that drops one peer of an XPUB,
// and nothing bounds what a peer's subscriptions cost it (each distinct
// prefix is kept in a trie, in the daemon's memory, until the peer leaves).
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include <zmq.hpp>

namespace sniffer {

class AcceptedConnections {
 public:
  // Starts monitoring `socket`; call before it binds.
  AcceptedConnections(zmq::context_t& ctx, zmq::socket_t& socket, const std::string& name);
  // Reads the monitor's pending events: accepted and disconnected connections.
  void update();
  // Shuts down every accepted connection still open whose local address is
  // the socket's (`bound`: its last_endpoint): libzmq then closes it and drops
  // its pipe, and with it the peer's subscriptions. Returns how many.
  std::size_t cut_all(const std::string& bound);
  // As cut_all, only the connections from `peer` (ZeroMQ's "Peer-Address":
  // an IP address, or "localhost:UID:GID:PID" for ipc).
  std::size_t cut_peer(const std::string& bound, const std::string& peer);
  std::size_t size() const { return fds_.size(); }

 private:
  zmq::socket_t monitor_;
  std::set<int> fds_;
};

}  // namespace sniffer
