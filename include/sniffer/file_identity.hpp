// A file as the kernel knows it: its device and inode. A name can be made to
// lead to another file between two uses (a symbolic link put in its place);
// an open file's identity says whether it is the one a name led to before.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <optional>
#include <string>

namespace sniffer {

struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const FileIdentity&) const = default;
};

// What `path` leads to now (links followed; "-": standard input), or none
// when it leads nowhere reachable.
inline std::optional<FileIdentity> identity_of(const std::string& path) {
  struct stat st {};
  if ((path == "-" ? fstat(STDIN_FILENO, &st) : stat(path.c_str(), &st)) != 0) return std::nullopt;
  return FileIdentity{st.st_dev, st.st_ino};
}

// The file open on `fd`.
inline std::optional<FileIdentity> identity_of_open(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return std::nullopt;
  return FileIdentity{st.st_dev, st.st_ino};
}

}  // namespace sniffer
