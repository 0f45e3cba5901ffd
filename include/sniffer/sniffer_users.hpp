// Who a sensor runs as, so whose processes, sockets and files may be a
// sensor's (a lock's holder, a hook's mark, a leftover's owner): anyone else's
// are a local user's, a squatter's at most.
#pragma once

#include <sys/types.h>

namespace sniffer {

// The users a sniffer runs as: root, ours, and the packaged unit's "sniffer".
bool sniffer_user(uid_t uid);

}  // namespace sniffer
