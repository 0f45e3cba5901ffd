#include "sniffer/accepted_connections.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

// Whether descriptor fd is still a connection of the endpoint `bound`
// ("tcp://host:port", "ipc:///path"): its number may have been reused since
// the monitor told of it, by a socket that is not ours to cut.
bool local_address_is(int fd, const std::string& bound) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  if (bound.rfind("ipc://", 0) == 0) {
    if (local.ss_family != AF_UNIX) return false;
    const auto* un = reinterpret_cast<const sockaddr_un*>(&local);
    return std::strncmp(un->sun_path, bound.c_str() + 6, sizeof un->sun_path) == 0;
  }
  const std::size_t colon = bound.rfind(':');
  if (bound.rfind("tcp://", 0) != 0 || colon == std::string::npos) return false;
  const unsigned long port = std::strtoul(bound.c_str() + colon + 1, nullptr, 10);
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port) == port;
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port) == port;
  return false;
}

// The peer of connection fd as ZeroMQ names it in a message's
// "Peer-Address": the numeric IP address for tcp; for ipc its credentials
// ":UID:GID:PID" (ZeroMQ puts "localhost" in front). "" when unknown.
std::string peer_of(int fd) {
  sockaddr_storage remote{};
  socklen_t len = sizeof remote;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) != 0) return "";
  if (remote.ss_family == AF_UNIX) {
    ucred cred{};
    socklen_t size = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return "";
    return ":" + std::to_string(cred.uid) + ":" + std::to_string(cred.gid) + ":" + std::to_string(cred.pid);
  }
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&remote), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
    return "";
  }
  return host;
}

// Whether `peer` (a Peer-Address) names the peer of fd.
bool peer_is(int fd, const std::string& peer) {
  const std::string of = peer_of(fd);
  if (of.empty()) return false;
  if (of.front() != ':') return peer == of;
  return peer.size() > of.size() && peer.compare(peer.size() - of.size(), of.size(), of) == 0;
}

}  // namespace

std::size_t connection_cap(std::size_t open_files_limit, std::size_t most) {
  constexpr std::size_t kReserve = 256;  // the daemon's own: maps, rings, files, sockets
  const std::size_t share = open_files_limit > kReserve ? (open_files_limit - kReserve) / 4 : 0;
  return std::clamp<std::size_t>(share, 16, most);
}

AcceptedConnections::AcceptedConnections(zmq::context_t& ctx, zmq::socket_t& socket, const std::string& name)
    : monitor_(ctx, zmq::socket_type::pair) {
  const std::string endpoint = "inproc://sniffer-monitor-" + name;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    throw Error(name + ": cannot monitor its connections: " + zmq_strerror(zmq_errno()));
  }
  monitor_.set(zmq::sockopt::linger, 0);
  monitor_.set(zmq::sockopt::rcvhwm, 0);  // no event dropped between two reads (one per batch or second)
  monitor_.connect(endpoint);
}

void AcceptedConnections::update() {
  // An event is two frames: 2 bytes event, 4 bytes value (the descriptor), then the endpoint.
  zmq::message_t head, address;
  while (monitor_.recv(head, zmq::recv_flags::dontwait)) {
    if (!monitor_.recv(address, zmq::recv_flags::dontwait) || head.size() < 6) continue;
    std::uint16_t event;
    std::int32_t fd;
    std::memcpy(&event, head.data(), sizeof event);
    std::memcpy(&fd, static_cast<const char*>(head.data()) + 2, sizeof fd);
    if (event == ZMQ_EVENT_ACCEPTED) fds_[fd] = ++accepted_;
    else if (event == ZMQ_EVENT_DISCONNECTED) fds_.erase(fd);
  }
}

std::size_t AcceptedConnections::cut_all(const std::string& bound) {
  update();
  std::size_t cut = 0;
  for (const auto& [fd, order] : fds_) {
    if (local_address_is(fd, bound) && shutdown(fd, SHUT_RDWR) == 0) ++cut;
  }
  fds_.clear();  // their DISCONNECTED events follow; a reused number is not ours
  return cut;
}

// As peer_of names it: an ipc peer without ZeroMQ's "localhost" in front.
std::string AcceptedConnections::local_name(const std::string& peer) {
  constexpr std::string_view kLocal = "localhost:";
  return peer.rfind(kLocal, 0) == 0 ? peer.substr(kLocal.size() - 1) : peer;
}

void AcceptedConnections::vouch(const std::string& peer) {
  const std::string name = local_name(peer);
  if (name.empty()) return;
  if (vouched_.size() >= kMaxVouched && !vouched_.count(name)) {
    // Full: the peers with no connection now are forgotten (one vouches
    // again when it comes back and subscribes), or peers passing through once
    // would fill it for good and every later detector would count as
    // unproven (red team R15-5).
    update();
    std::set<std::string> connected;
    for (const auto& [fd, order] : fds_) connected.insert(peer_of(fd));
    std::erase_if(vouched_, [&](const std::string& p) { return !connected.count(p); });
  }
  if (vouched_.size() < kMaxVouched) vouched_.insert(name);
}

std::vector<AcceptedConnections::CrowdCut> AcceptedConnections::cut_crowds(const std::string& bound, std::size_t cap) {
  update();
  std::vector<CrowdCut> cut;
  if (fds_.size() <= cap) return cut;
  // Each connection's peer read once.
  struct Crowd {
    std::vector<int> fds;
    std::uint64_t newest = 0;
    bool vouched = false;
  };
  std::map<std::string, Crowd> by_peer;
  for (const auto& [fd, order] : fds_) {
    Crowd& crowd = by_peer[peer_of(fd)];
    crowd.fds.push_back(fd);
    crowd.newest = std::max(crowd.newest, order);
  }
  std::vector<std::pair<const std::string*, Crowd*>> order;
  for (auto& [peer, crowd] : by_peer) {
    crowd.vouched = vouched_.count(peer) != 0;
    order.emplace_back(&peer, &crowd);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    const Crowd &x = *a.second, &y = *b.second;
    if (x.vouched != y.vouched) return !x.vouched;
    if (x.fds.size() != y.fds.size()) return x.fds.size() > y.fds.size();
    return x.newest > y.newest;
  });
  for (const auto& [peer, crowd] : order) {
    if (fds_.size() <= cap) break;
    for (int fd : crowd->fds) {
      if (local_address_is(fd, bound)) shutdown(fd, SHUT_RDWR);
      fds_.erase(fd);  // its DISCONNECTED event follows; a reused number is not ours
    }
    cut.push_back({peer->empty() ? "(unknown)" : *peer, crowd->fds.size()});
  }
  return cut;
}

std::size_t AcceptedConnections::cut_peer(const std::string& bound, const std::string& peer) {
  update();
  std::size_t cut = 0;
  for (auto it = fds_.begin(); it != fds_.end();) {
    if (local_address_is(it->first, bound) && peer_is(it->first, peer)) {
      if (shutdown(it->first, SHUT_RDWR) == 0) ++cut;
      it = fds_.erase(it);  // its DISCONNECTED event follows
    } else {
      ++it;
    }
  }
  return cut;
}

}  // namespace sniffer
