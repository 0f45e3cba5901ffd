#include "sniffer/config_owner.hpp"

#include <pwd.h>

#include <optional>

#include "sniffer/file_trust.hpp"
#include "sniffer/terminal_text.hpp"

namespace sniffer {

namespace {

// "uid 65534 (nobody)", or "uid 4000 (no user of that uid)".
std::string user_text(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  char buf[1024];
  const bool named = getpwuid_r(uid, &entry, buf, sizeof buf, &found) == 0 && found != nullptr;
  return "uid " + std::to_string(uid) + " (" + (named ? terminal_text(found->pw_name) : "no user of that uid") + ")";
}

// What the other user owns, as the warning says it before "is owned by".
std::string owned_item_text(const OtherOwner& owner) {
  const std::string path = "\"" + terminal_text(owner.path) + "\"";
  switch (owner.item) {
    case OtherOwner::kDirectory:
      return "the directory " + path + " on its way";
    case OtherOwner::kLink:
      return "the link " + path + " on its way";
    case OtherOwner::kLinkedFile:
      return path + ", where it leads,";
    case OtherOwner::kFile:
      break;
  }
  return "";
}

}  // namespace

std::string config_owner_warning(const std::string& path) {
  const std::optional<OtherOwner> owner = other_owner_on_path(path);
  if (!owner) return "";
  const std::string item = owned_item_text(*owner);
  return "config \"" + terminal_text(path) + "\": " + (item.empty() ? "owned" : item + " is owned") + " by " +
         user_text(owner->uid) +
         ", who can change the sensor's configuration at the next reload; chown root or keep it where only root "
         "can write";
}

}  // namespace sniffer
