// One netlink dump request and its multi-part reply, for the few kernel
// tables sniffer reads this way (tc filters and qdiscs over rtnetlink,
// unix sockets over sock_diag): no privilege is needed for either.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace sniffer {

// Sends `request` (`size` bytes: an nlmsghdr with NLM_F_REQUEST | NLM_F_DUMP,
// then its body) on a netlink socket of `protocol`; `each` sees every reply
// message of type `reply`. 0 or -errno (a reply's NLMSG_ERROR included).
int netlink_dump(int protocol, const void* request, std::size_t size, std::uint16_t reply,
                 const std::function<void(const nlmsghdr*)>& each);

// The same, the request being a message of `type` with `body` after its header.
template <typename Body>
int netlink_dump(int protocol, std::uint16_t type, const Body& body, std::uint16_t reply,
                 const std::function<void(const nlmsghdr*)>& each) {
  struct {
    nlmsghdr nh;
    Body body;
  } req{};
  req.nh = {.nlmsg_len = sizeof req, .nlmsg_type = type, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1,
            .nlmsg_pid = 0};
  req.body = body;
  return netlink_dump(protocol, &req, sizeof req, reply, each);
}

}  // namespace sniffer
