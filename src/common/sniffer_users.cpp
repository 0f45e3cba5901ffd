#include "sniffer/sniffer_users.hpp"

#include <pwd.h>
#include <unistd.h>

namespace sniffer {

bool sniffer_user(uid_t uid) {
  if (uid == 0 || uid == geteuid()) return true;
  passwd entry{};
  passwd* found = nullptr;
  char buf[1024];
  return getpwnam_r("sniffer", &entry, buf, sizeof buf, &found) == 0 && found != nullptr && found->pw_uid == uid;
}

bool owner_only_file(const struct stat& file) { return S_ISREG(file.st_mode) && (file.st_mode & 077) == 0; }

bool sensor_lock_holder(uid_t uid, const struct stat& file, uid_t directory_owner) {
  return sniffer_user(uid) || uid == directory_owner || (owner_only_file(file) && uid == file.st_uid);
}

}  // namespace sniffer
