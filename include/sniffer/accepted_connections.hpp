// The connections a bound ZeroMQ socket accepted, learnt from its monitor,
// so that they can be cut: libzmq has no call that drops one peer of an XPUB,
// and nothing bounds what a peer's subscriptions cost it (each distinct
// prefix is kept in a trie, in the daemon's memory, until the peer leaves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
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
  // A peer that proved itself (an authorized control request, a
  // subscription): kept out of crowd cuts while others can be cut. At most
  // kMaxVouched are remembered: when full, those with no connection now are
  // forgotten.
  void vouch(const std::string& peer);
  bool vouched(const std::string& peer) const { return vouched_.count(local_name(peer)) != 0; }
  static constexpr std::size_t kMaxVouched = 4096;
  // A peer cut for a crowd, and how many of its connections were cut.
  struct CrowdCut {
    std::string peer;
    std::size_t connections = 0;
  };
  // At most `cap` connections: above it, whole peers (an IP address; an ipc
  // process) lose their connections until at most cap are left, so that a
  // flood of raw connections (each a descriptor, before any handshake)
  // cannot take the daemon to its descriptor limit. The order: peers not
  // vouched for first, then the most connections, then the newest
  // connection; so that a detector with one connection is neither chosen by
  // the order of address strings among equals (red team R13-6) nor pushed
  // out by connections that arrived after it. Returns the peers cut.
  std::vector<CrowdCut> cut_crowds(const std::string& bound, std::size_t cap);
  std::size_t size() const { return fds_.size(); }

 private:
  static std::string local_name(const std::string& peer);
  zmq::socket_t monitor_;
  std::map<int, std::uint64_t> fds_;  // descriptor -> the order it was accepted in
  std::uint64_t accepted_ = 0;
  std::set<std::string> vouched_;
};

}  // namespace sniffer
