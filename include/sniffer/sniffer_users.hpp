// Who a sensor runs as, so whose processes, sockets and files may be a
// sensor's (a lock's holder, a hook's mark, a leftover's owner): anyone else's
// are a local user's, a squatter's at most.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

namespace sniffer {

// The users a sniffer runs as: root, ours, and the packaged unit's "sniffer".
bool sniffer_user(uid_t uid);

// Whether `file` is a regular file only its owner (and root) may open: mode
// 0600 or narrower. Whoever holds such a file open is its owner or root.
bool owner_only_file(const struct stat& file);

// Whether a process of `uid` that holds the instance lock file `file` (in a
// directory `directory_owner` owns) is a sensor, whose start must be refused:
// a sniffer_user; the directory's owner (the unit's RuntimeDirectory= user,
// whatever its name); or the owner of a 0600 file (only it and root may open
// it). Anyone else holds a file others could open: a squatter.
bool sensor_lock_holder(uid_t uid, const struct stat& file, uid_t directory_owner);

}  // namespace sniffer
