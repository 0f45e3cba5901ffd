#include "sniffer/endpoint_holders.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "sniffer/abstract_sockets.hpp"

namespace sniffer {

namespace {

constexpr const char* kListen = "0A";  // TCP_LISTEN, as /proc/net/tcp writes st

// Adds the uids of the listeners on `port` in one /proc/net/tcp-style table.
void read_table(const char* path, int port, std::set<std::uint32_t>& uids) {
  std::ifstream table(path);
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits;
    std::uint32_t uid = 0;
    if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid)) continue;
    const auto colon = local.rfind(':');
    if (state != kListen || colon == std::string::npos) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == static_cast<unsigned long>(port)) uids.insert(uid);
  }
}

}  // namespace

std::set<std::uint32_t> tcp_port_holders(int port) {
  std::set<std::uint32_t> uids;
  read_table("/proc/net/tcp", port, uids);
  read_table("/proc/net/tcp6", port, uids);
  return uids;
}

std::set<std::uint32_t> abstract_name_holders(const std::string& name) {
  std::vector<AbstractSocket> sockets;
  std::set<std::uint32_t> uids;
  if (abstract_sockets(name, false, sockets) != 0) return uids;
  for (const AbstractSocket& s : sockets) {
    if (s.name == name) uids.insert(s.uid);
  }
  return uids;
}

std::string held_by(const std::set<std::uint32_t>& uids) {
  std::string text;
  for (std::uint32_t uid : uids) text += (text.empty() ? ", held by uid " : ", uid ") + std::to_string(uid);
  return text;
}

bool held_by_us(const std::set<std::uint32_t>& uids) {
  return uids.count(0) > 0 || uids.count(static_cast<std::uint32_t>(geteuid())) > 0;
}

bool bind_may_wait(int err, const std::set<std::uint32_t>& holders) {
  return err == EADDRNOTAVAIL || (err == EADDRINUSE && !held_by_us(holders));
}

}  // namespace sniffer
