#include "sniffer/link_monitor.hpp"

// glibc's <net/if.h> first: <linux/if.h> then leaves out what both define.
#include <net/if.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sniffer/error.hpp"

namespace sniffer {

bool LinkEvent::admin_up() const { return (flags & IFF_UP) != 0; }
bool LinkEvent::link_up() const { return (flags & IFF_UP) != 0 && (flags & IFF_RUNNING) != 0; }

const char* operstate_name(std::uint8_t operstate) {
  switch (operstate) {
    case IF_OPER_NOTPRESENT: return "notpresent";
    case IF_OPER_DOWN: return "down";
    case IF_OPER_LOWERLAYERDOWN: return "lowerlayerdown";
    case IF_OPER_TESTING: return "testing";
    case IF_OPER_DORMANT: return "dormant";
    case IF_OPER_UP: return "up";
    default: return "unknown";
  }
}

namespace {

void parse_link(const nlmsghdr* h, LinkChanges& out) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  if (ifi->ifi_index <= 0) return;
  LinkEvent e;
  e.kind = h->nlmsg_type == RTM_DELLINK ? LinkEvent::Kind::Deleted : LinkEvent::Kind::NewOrChanged;
  e.ifindex = static_cast<std::uint32_t>(ifi->ifi_index);
  e.flags = ifi->ifi_flags;
  e.operstate = IF_OPER_UNKNOWN;
  int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
  for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
    const auto* payload = static_cast<const char*>(RTA_DATA(a));
    const std::size_t n = RTA_PAYLOAD(a);
    if (a->rta_type == IFLA_IFNAME) {
      e.name.assign(payload, strnlen(payload, n));
    } else if (a->rta_type == IFLA_OPERSTATE && n >= 1) {
      e.operstate = static_cast<std::uint8_t>(payload[0]);
    }
  }
  out.links.push_back(std::move(e));
}

}  // namespace

void parse_netlink_messages(const void* data, std::size_t len, LinkChanges& out) {
  int remaining = static_cast<int>(len);
  for (const auto* h = static_cast<const nlmsghdr*>(data); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
    switch (h->nlmsg_type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: parse_link(h, out); break;
      case RTM_NEWADDR:
      case RTM_DELADDR: out.addresses_changed = true; break;
      default: break;  // NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, other groups
    }
  }
}

std::optional<LinkEvent> query_link(const std::string& name) {
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return std::nullopt;
  LinkEvent e;
  e.ifindex = idx;
  e.name = name;
  e.operstate = IF_OPER_UNKNOWN;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &req) == 0) e.flags = static_cast<std::uint16_t>(req.ifr_flags);
    close(fd);
  }
  return e;
}

LinkMonitor::LinkMonitor() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) throw Error(std::string("link monitor: netlink socket: ") + errno_text(errno));
  // Room for a burst of events (many interfaces changing at once); beyond
  // that the kernel reports ENOBUFS and poll() asks for a re-sync.
  int rcvbuf = 1 << 20;
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd_);
    throw Error(std::string("link monitor: bind to the link and address groups: ") + errno_text(err));
  }
}

LinkMonitor::~LinkMonitor() {
  if (fd_ >= 0) close(fd_);
}

LinkChanges LinkMonitor::poll() {
  LinkChanges changes;
  // Bounded, so that a storm of events cannot starve the ring buffer: what
  // is left is read at the next iteration.
  for (int reads = 0; reads < 64; ++reads) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from),
                         &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the kernel dropped events: only a full re-sync is right now
        changes.overrun = true;
        ++overruns_;
        continue;
      }
      break;  // EAGAIN: nothing more queued
    }
    if (n == 0) break;
    if (from.nl_pid != 0) continue;  // not from the kernel
    parse_netlink_messages(buffer_.data(), static_cast<std::size_t>(n), changes);
  }
  return changes;
}

}  // namespace sniffer
