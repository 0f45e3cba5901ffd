// The listening unix sockets of this network namespace with an abstract name,
// as sock_diag shows them to anyone (`ss -xl`): how a sniffer finds the other
// sniffers' marks on a tc hook (tc_hook_lock.hpp) whatever their pid
// namespace, with the uid of each socket's creator, which no process can fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sniffer {

struct UnixListener {
  std::string name;   // the abstract name, without its leading NUL
  std::uint32_t uid;  // the socket's owner (its creator's)
};

// The listeners whose abstract name starts with `prefix`: 0 or -errno.
int abstract_listeners(const std::string& prefix, std::vector<UnixListener>& found);

}  // namespace sniffer
