#include "sniffer/abstract_sockets.hpp"

#include "sniffer/netlink_dump.hpp"

#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace sniffer {

int abstract_sockets(const std::string& prefix, bool listening_only, std::vector<AbstractSocket>& found) {
  found.clear();
  unix_diag_req req{};
  req.sdiag_family = AF_UNIX;
  req.udiag_states = listening_only ? 1U << TCP_LISTEN : ~0U;
  req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_UID;
  return netlink_dump(NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, req, SOCK_DIAG_BY_FAMILY, [&](const nlmsghdr* nh) {
    const auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(nh));
    int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
    std::string name;
    bool has_uid = false;
    std::uint32_t uid = 0;
    for (auto* at = reinterpret_cast<const rtattr*>(msg + 1); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
      const char* data = static_cast<const char*>(RTA_DATA(at));
      if (at->rta_type == UNIX_DIAG_NAME && RTA_PAYLOAD(at) > 0 && data[0] == '\0') {
        name.assign(data + 1, RTA_PAYLOAD(at) - 1);
      } else if (at->rta_type == UNIX_DIAG_UID && RTA_PAYLOAD(at) >= sizeof uid) {
        std::memcpy(&uid, data, sizeof uid);
        has_uid = true;
      }
    }
    // Without its uid (a kernel before 5.3) a socket vouches for nothing.
    if (has_uid && name.compare(0, prefix.size(), prefix) == 0) {
      found.push_back({.name = name, .uid = uid, .inode = msg->udiag_ino});
    }
  });
}

}  // namespace sniffer
