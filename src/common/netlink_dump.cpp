#include "sniffer/netlink_dump.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace sniffer {

int netlink_dump(int protocol, const void* request, std::size_t size, std::uint16_t reply,
                 const std::function<void(const nlmsghdr*)>& each) {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  const timeval timeout{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl kernel{.nl_family = AF_NETLINK, .nl_pad = 0, .nl_pid = 0, .nl_groups = 0};
  int err = 0;
  if (sendto(fd, request, size, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) err = -errno;
  std::vector<nlmsghdr> buf(65536 / sizeof(nlmsghdr));  // aligned; a dump's parts are at most 32 KiB
  for (bool done = err != 0; !done;) {
    const ssize_t n = recv(fd, buf.data(), buf.size() * sizeof(nlmsghdr), 0);
    if (n <= 0) {
      err = n < 0 ? -errno : -EIO;
      break;
    }
    int left = static_cast<int>(n);
    for (nlmsghdr* nh = buf.data(); NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
      if (nh->nlmsg_type == NLMSG_DONE) done = true;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        err = static_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
        done = true;
      }
      if (nh->nlmsg_type == reply) each(nh);
    }
  }
  close(fd);
  return err;
}

}  // namespace sniffer
