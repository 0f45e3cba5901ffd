// The connections a bound ZeroMQ socket accepted, learnt from its monitor,
// so that they can be cut: libzmq has no call that drops one peer of an XPUB,
// and nothing bounds what a peer's subscriptions cost it (each distinct
// prefix is kept in a trie, in the daemon's memory, until the peer leaves).
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace sniffer {

// How many connections a socket may hold, at most `most`, under a descriptor
// limit of `open_files_limit`: a quarter of it, less a reserve for the
// daemon's own files (at least 16).
std::size_t connection_cap(std::size_t open_files_limit, std::size_t most);

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
  // At most `cap` connections: above it, the peer with the most connections
  // (an IP address; an ipc process) loses them all, again until at most cap
  // are left: a flood of raw connections (each a descriptor, before any
  // handshake) must not take the daemon to its descriptor limit. Returns
  // the peers cut (their names), empty when under the cap.
  std::vector<std::string> cut_crowds(const std::string& bound, std::size_t cap);
  std::size_t size() const { return fds_.size(); }

 private:
  zmq::socket_t monitor_;
  std::set<int> fds_;
};

}  // namespace sniffer
