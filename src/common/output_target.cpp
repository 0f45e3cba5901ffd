#include "sniffer/output_target.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string_view>

#include "sniffer/error.hpp"

namespace sniffer {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

namespace {

// A symbolic link in a sticky, world-writable directory (/tmp) owned by
// neither us nor the directory's owner is another user's: following it would
// let them choose which file is replaced. The kernel's fs.protected_symlinks
// rule, applied whatever the sysctl says, since a rename over the link's
// resolved target is not covered by it (red team R13-1). Returns the link's
// owner, or -1 when it is no such link.
long foreign_link_owner(const std::string& path, const struct stat& link) {
  struct stat dir {};
  if (!S_ISLNK(link.st_mode) || stat(directory_of(path).c_str(), &dir) != 0) return -1;
  const bool shared_sticky = (dir.st_mode & S_ISVTX) != 0 && (dir.st_mode & S_IWOTH) != 0;
  if (!shared_sticky || link.st_uid == geteuid() || link.st_uid == dir.st_uid) return -1;
  return static_cast<long>(link.st_uid);
}

}  // namespace

WriteTarget write_target(const std::string& path, const std::string& what) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return {errno == ENOENT ? path : std::string()};
  if (S_ISREG(st.st_mode)) return {path};
  if (!S_ISLNK(st.st_mode)) return {};
  if (const long owner = foreign_link_owner(path, st); owner >= 0) {
    throw Error(what + " " + path + ": a symbolic link of another user (uid " + std::to_string(owner) +
                ") in a shared sticky directory: not followed, as its owner could name any file; remove it, "
                "or name the file it leads to");
  }
  // Ours (or in a directory no one else may rename in): what it leads to.
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return {{}, 0};  // dangling: open() creates it
  if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) return {{}, 0};  // /dev/stdout -> a pipe or a tty
  return {resolved};
}

int descriptor_named(const std::string& path) {
  int fd = -1;
  if (path == "/dev/stdout") {
    fd = STDOUT_FILENO;
  } else if (path == "/dev/stderr") {
    fd = STDERR_FILENO;
  } else {
    for (const std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
      if (path.rfind(prefix, 0) != 0) continue;
      const char* digits = path.c_str() + prefix.size();
      char* end = nullptr;
      const long n = std::strtol(digits, &end, 10);
      if (end != digits && *end == '\0' && n >= 0 && n <= INT_MAX) fd = static_cast<int>(n);
    }
  }
  return fd >= 0 && fcntl(fd, F_GETFD) >= 0 ? fd : -1;
}

}  // namespace sniffer
