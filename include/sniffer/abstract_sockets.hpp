// The unix sockets of this network namespace with an abstract name, as
// sock_diag shows them to anyone (`ss -xa`): how a sniffer learns who holds a
// tc hook's lock and finds the other sniffers' marks (tc_hook_lock.hpp),
// whatever their pid namespace, with the uid of each socket's creator, which
// no process can fake and which needs no connection (a full backlog hides
// nothing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sniffer {

struct AbstractSocket {
  std::string name;   // the abstract name, without its leading NUL
  std::uint32_t uid;  // the socket's owner (its creator's)
  std::uint64_t inode = 0;
};

// The sockets whose abstract name starts with `prefix`, only the listening
// ones or bound in any state: 0 or -errno.
int abstract_sockets(const std::string& prefix, bool listening_only, std::vector<AbstractSocket>& found);

}  // namespace sniffer
