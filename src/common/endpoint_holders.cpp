#include "sniffer/endpoint_holders.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sniffer/abstract_sockets.hpp"
#include "sniffer/terminal_text.hpp"

namespace sniffer {

namespace {

constexpr const char* kListen = "0A";  // TCP_LISTEN, as /proc/net/tcp writes st

// Adds the listeners on `port` in one /proc/net/tcp-style table.
void read_table(const char* path, int port, std::vector<EndpointHolder>& holders) {
  std::ifstream table(path);
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits, timeout;
    EndpointHolder holder;
    if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> holder.uid >> timeout >>
          holder.inode)) {
      continue;
    }
    const auto colon = local.rfind(':');
    if (state != kListen || colon == std::string::npos) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == static_cast<unsigned long>(port)) holders.push_back(holder);
  }
}

// Descriptors read at most per lookup: it runs at each failed retry (every
// kRebindSeconds, the publisher's lock held), and a holder with a million
// descriptors made a scan of /proc take seconds (red team, round 16). Past
// it, the holder is named by its uid alone.
constexpr std::size_t kMaxDescriptorsRead = 4096;

// The process that has each holder's socket open ("pid P, COMM"), the first
// one found among the processes of the holders' uids (a forked server shares
// its socket), for those we may see.
std::map<std::uint64_t, std::string> socket_processes(const std::vector<EndpointHolder>& holders) {
  namespace fs = std::filesystem;
  std::set<std::uint64_t> inodes;
  std::set<std::uint32_t> uids;
  for (const EndpointHolder& h : holders) {
    if (h.inode == 0) continue;
    inodes.insert(h.inode);
    uids.insert(h.uid);
  }
  std::map<std::uint64_t, std::string> found;
  std::size_t budget = kMaxDescriptorsRead;
  std::error_code ec;
  for (fs::directory_iterator p("/proc", ec), end; !ec && p != end && found.size() < inodes.size() && budget > 0;
       p.increment(ec)) {
    const std::string pid = p->path().filename().string();
    struct stat st {};
    if (pid.find_first_not_of("0123456789") != std::string::npos || ::stat(p->path().c_str(), &st) != 0 ||
        !uids.count(st.st_uid)) {
      continue;
    }
    std::error_code fd_ec;
    for (fs::directory_iterator f(p->path() / "fd", fd_ec); !fd_ec && f != end && budget > 0; f.increment(fd_ec)) {
      --budget;
      std::error_code link_ec;
      const std::string link = fs::read_symlink(f->path(), link_ec).string();
      if (link.rfind("socket:[", 0) != 0) continue;
      const std::uint64_t inode = std::strtoull(link.c_str() + 8, nullptr, 10);
      if (!inodes.count(inode) || found.count(inode)) continue;
      std::string comm;
      std::getline(std::ifstream(p->path() / "comm"), comm);
      found[inode] = "pid " + pid + ", " + terminal_text(comm);  // any bytes but NUL: escapes too
    }
  }
  return found;
}

// ", held by uid U (PROCESSES)[, uid V]", each uid with those of its holders named in `processes`.
std::string describe_holders(const std::vector<EndpointHolder>& holders,
                             const std::map<std::uint64_t, std::string>& processes) {
  // By uid, each with its processes (an IPv4 and an IPv6 listener of one process: named once).
  std::map<std::uint32_t, std::set<std::string>> by_uid;
  for (const EndpointHolder& h : holders) {
    auto& named = by_uid[h.uid];
    if (auto p = processes.find(h.inode); p != processes.end()) named.insert(p->second);
  }
  std::string text;
  for (const auto& [uid, named] : by_uid) {
    text += (text.empty() ? ", held by uid " : ", uid ") + std::to_string(uid);
    std::string list;
    for (const std::string& process : named) list += (list.empty() ? "" : "; ") + process;
    if (!list.empty()) text += " (" + list + ")";
  }
  return text;
}

}  // namespace

std::vector<EndpointHolder> tcp_port_holders(int port) {
  std::vector<EndpointHolder> holders;
  read_table("/proc/net/tcp", port, holders);
  read_table("/proc/net/tcp6", port, holders);
  return holders;
}

std::vector<EndpointHolder> abstract_name_holders(const std::string& name) {
  std::vector<AbstractSocket> sockets;
  std::vector<EndpointHolder> holders;
  if (abstract_sockets(name, false, sockets) != 0) return holders;
  for (const AbstractSocket& s : sockets) {
    if (s.name == name) holders.push_back({.uid = s.uid, .inode = s.inode});
  }
  return holders;
}

std::string held_by(const std::vector<EndpointHolder>& holders) {
  return describe_holders(holders, socket_processes(holders));
}

std::string held_by_uids(const std::vector<EndpointHolder>& holders) { return describe_holders(holders, {}); }

bool held_by_us(const std::vector<EndpointHolder>& holders) {
  for (const EndpointHolder& h : holders) {
    if (h.uid == 0 || h.uid == static_cast<std::uint32_t>(geteuid())) return true;
  }
  return false;
}

bool bind_may_wait(int err, const std::vector<EndpointHolder>& holders) {
  return err == EADDRNOTAVAIL || (err == EADDRINUSE && !held_by_us(holders));
}

}  // namespace sniffer
