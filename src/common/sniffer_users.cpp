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

}  // namespace sniffer
