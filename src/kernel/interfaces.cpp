#include "sniffer/interfaces.hpp"

#include <net/if.h>

#include <cerrno>

#include "sniffer/error.hpp"

namespace sniffer {

std::uint32_t resolve_ifindex(const std::string& name, const std::string& config_path) {
  unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) {
    throw Error("interface \"" + name + "\" (" + config_path + "): " +
                (errno == ENODEV ? std::string("no such network interface in this network namespace")
                                 : errno_text(errno)));
  }
  return idx;
}

}  // namespace sniffer
