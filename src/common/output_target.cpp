#include "sniffer/output_target.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "sniffer/error.hpp"
#include "sniffer/unique_fd.hpp"

namespace sniffer {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string file_name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

// A symbolic link or a FIFO in a sticky, world-writable directory (/tmp)
// owned by neither us nor the directory's owner is another user's: following
// the link would let them choose which file is replaced (the rename over its
// resolved target is not covered by fs.protected_symlinks: red team R13-1),
// and the FIFO hands them the table (or blocks the run in open() while
// nobody reads). The kernel's fs.protected_symlinks and fs.protected_fifos
// rules, applied whatever the sysctls say (round 16). Returns the owner, or
// -1 when it is neither. `dir`: the directory the entry `st` is in.
long foreign_owner_in(const struct stat& dir, const struct stat& st) {
  if (!S_ISLNK(st.st_mode) && !S_ISFIFO(st.st_mode)) return -1;
  const bool shared_sticky = (dir.st_mode & S_ISVTX) != 0 && (dir.st_mode & S_IWOTH) != 0;
  if (!shared_sticky || st.st_uid == geteuid() || st.st_uid == dir.st_uid) return -1;
  return static_cast<long>(st.st_uid);
}

// The same for the entry `path`, its directory found by name.
long foreign_owner(const std::string& path, const struct stat& st) {
  struct stat dir {};
  if ((!S_ISLNK(st.st_mode) && !S_ISFIFO(st.st_mode)) || stat(directory_of(path).c_str(), &dir) != 0) return -1;
  return foreign_owner_in(dir, st);
}

[[noreturn]] void throw_foreign_directory_link(const std::string& path, const std::string& what,
                                               const std::string& component, long owner) {
  throw Error(what + " " + path + ": " + component + " is a symbolic link of another user (uid " +
              std::to_string(owner) + ") in a shared sticky directory: not followed, as its owner could "
              "name any directory; remove it, or name the directory it leads to");
}

// Opens `name` in the directory `dir` (a descriptor; `component`: the path so
// far, for the error), as open_output_directory() says. -1 and errno when it fails.
int open_component(int dir, const std::string& name, const std::string& component, const std::string& path,
                   const std::string& what) {
  struct stat st {}, parent {};
  if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  if (!S_ISLNK(st.st_mode)) return openat(dir, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fstat(dir, &parent) != 0) return -1;
  if (const long owner = foreign_owner_in(parent, st); owner >= 0) {
    throw_foreign_directory_link(path, what, component, owner);
  }
  // Ours, or its directory's owner's, or in a directory no one else may
  // rename in: none but them can put another link in its place.
  return openat(dir, name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace

int open_output_directory(const std::string& path, const std::string& what, bool refuse_foreign_links) {
  const std::string dir = directory_of(path);
  if (!refuse_foreign_links) return open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = open(dir.front() == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (std::size_t start = 0; fd >= 0 && start < dir.size();) {
    const std::size_t end = std::min(dir.find('/', start), dir.size());
    const std::string name = dir.substr(start, end - start);
    start = end + 1;
    if (name.empty() || name == ".") continue;  // a run of slashes is one separator
    const UniqueFd parent(fd);
    fd = open_component(parent.get(), name, dir.substr(0, end), path, what);
  }
  return fd;
}

void refuse_foreign_directory_links(const std::string& path, const std::string& what) {
  // Each directory component, from the first: /tmp, then /tmp/x (a run of
  // slashes is one separator; the last component is write_target's).
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    if (path[slash - 1] == '/') continue;
    const std::string component = path.substr(0, slash);
    struct stat st {};
    if (lstat(component.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
    if (const long owner = foreign_owner(component, st); owner >= 0) {
      throw_foreign_directory_link(path, what, component, owner);
    }
  }
}

WriteTarget write_target(const std::string& path, const std::string& what) {
  // The kernel's fs.protected_symlinks applies to every component of a path,
  // and so does this (red team R17-11: a directory of the path was followed).
  refuse_foreign_directory_links(path, what);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return {errno == ENOENT ? path : std::string()};
  if (S_ISREG(st.st_mode)) return {path};
  if (const long owner = foreign_owner(path, st); owner >= 0 && S_ISFIFO(st.st_mode)) {
    throw Error(what + " " + path + ": a FIFO of another user (uid " + std::to_string(owner) +
                ") in a shared sticky directory: not written, as its owner reads what goes in; remove it, or "
                "name another file");
  } else if (owner >= 0) {
    throw Error(what + " " + path + ": a symbolic link of another user (uid " + std::to_string(owner) +
                ") in a shared sticky directory: not followed, as its owner could name any file; remove it, "
                "or name the file it leads to");
  }
  if (!S_ISLNK(st.st_mode)) return {};
  // Ours (or in a directory no one else may rename in): what it leads to.
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return {{}, 0};  // dangling: open() creates it
  if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) return {{}, 0};  // /dev/stdout -> a pipe or a tty
  return {resolved};
}

namespace {

// The descriptor a name spells out (/dev/stdout, /dev/stderr, /dev/fd/N,
// /proc/self/fd/N), preferred when two are open on the same file; -1 if none.
int spelled_descriptor(const std::string& path) {
  if (path == "/dev/stdout") return STDOUT_FILENO;
  if (path == "/dev/stderr") return STDERR_FILENO;
  for (const std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (path.rfind(prefix, 0) != 0) continue;
    const char* digits = path.c_str() + prefix.size();
    char* end = nullptr;
    const long n = std::strtol(digits, &end, 10);
    if (end != digits && *end == '\0' && n >= 0 && n <= INT_MAX) return static_cast<int>(n);
  }
  return -1;
}

// This process's descriptors open for writing (/proc/self/fd; without /proc,
// 0-1023).
std::vector<int> writable_descriptors() {
  std::vector<int> fds;
  if (DIR* dir = opendir("/proc/self/fd")) {
    const int own = dirfd(dir);
    while (const dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.' && std::atoi(e->d_name) != own) fds.push_back(std::atoi(e->d_name));
    }
    closedir(dir);
  } else {
    for (int fd = 0; fd < 1024; ++fd) fds.push_back(fd);
  }
  std::erase_if(fds, [](int fd) {
    const int flags = fcntl(fd, F_GETFL);
    return flags < 0 || (flags & O_PATH) != 0 || (flags & O_ACCMODE) == O_RDONLY;
  });
  return fds;
}

bool same_file(int fd, const struct stat& named) {
  struct stat open {};
  return fstat(fd, &open) == 0 && open.st_dev == named.st_dev && open.st_ino == named.st_ino;
}

}  // namespace

int descriptor_named(const std::string& path) {
  struct stat named {};
  if (stat(path.c_str(), &named) != 0 || S_ISDIR(named.st_mode)) return -1;
  const std::vector<int> open = writable_descriptors();
  const int spelled = spelled_descriptor(path);
  if (std::find(open.begin(), open.end(), spelled) != open.end() && same_file(spelled, named)) return spelled;
  const auto it = std::find_if(open.begin(), open.end(), [&](int fd) { return same_file(fd, named); });
  return it == open.end() ? -1 : *it;
}

}  // namespace sniffer
