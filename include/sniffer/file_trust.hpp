// Files that steer a privileged sensor (its config, the keys it accepts) must
// be changeable only by those trusted to steer it.
#pragma once

#include <sys/stat.h>

#include <optional>
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

// The file's own part of refuse_if_writable: its mode only.
void refuse_if_file_writable(const std::string& name, const std::string& path, const struct stat& st, Writers writers,
                             const std::string& change);

// Opens `path` for reading (O_NONBLOCK: a FIFO does not hang the caller)
// through directories that root and this process's user alone can change,
// as sshd's StrictModes asks of the way to authorized_keys: the path is
// resolved one name at a time, from "/" (a relative path from the working
// directory's real location), following links by hand, and every directory
// a name is looked up in must be owned by root or by our effective user and
// be writable by group or other only if sticky; a link in such a sticky
// directory must be owned by root or by us too. So both the directories of
// the path as given and those of the file's real location are checked, and
// the descriptor returned is that of the file those checks reached (opened
// from the checked directory, without following a link). The file's own
// owner and mode are the caller's to check. Throws Error, `name` first,
// naming the offending directory or link, its owner or mode, and the chown
// or chmod that mends it; "cannot open: REASON" when a name is missing.
int open_through_trusted_directories(const std::string& name, const std::string& path);

// Who besides root, us and `sniffer` can change the file at `path`: the owner
// of a directory on its way (walked as open_through_trusted_directories walks
// it, links' targets included), of a link in a sticky directory others may
// write, or of the file itself. The first met from "/", the file last;
// nullopt when nobody else, or when the path cannot be walked (the caller's
// own read of the file says why).
struct OtherOwner {
  enum Item { kDirectory, kLink, kFile, kLinkedFile /* the file, a link led to it */ };
  std::string path;  // from "/"
  uid_t uid;
  Item item;
};
std::optional<OtherOwner> other_owner_on_path(const std::string& path);

// Whether uid is root or our effective user: the owners a file that grants
// access (or holds a secret key) may have.
bool root_or_us(uid_t uid);

// "a FIFO", "a directory", ...: what a file of `mode` is, for messages.
std::string file_type_text(mode_t mode);

// "0644": the permission bits of a mode, for messages.
std::string mode_text(mode_t mode);

}  // namespace sniffer
