// Files that steer a privileged sensor (its config, the keys it accepts) must
// be changeable only by those trusted to steer it.
#pragma once

#include <sys/stat.h>

#include <string>

namespace sniffer {

// Who, besides the file's owner, must not be able to change the file.
enum class Writers {
  kOther,         // any local user: the config (a group may be an admins' group)
  kGroupOrOther,  // anyone but the owner: the keys that grant access (sshd's StrictModes)
};

// Throws Error when `writers` could change the file whose fstat is `st`, or
// replace it in its directory (one they can write, unless sticky). `name`
// says what the file is in errors ("config file \"x\""), `change` what such
// a user could do with it ("add a key"); the error names the mode and the
// chmod that mends it.
void refuse_if_writable(const std::string& name, const std::string& path, const struct stat& st, Writers writers,
                        const std::string& change);

// "0644": the permission bits of a mode, for messages.
std::string mode_text(mode_t mode);

}  // namespace sniffer
