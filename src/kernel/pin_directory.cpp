#include "sniffer/pin_directory.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>

#include <spdlog/spdlog.h>

#include "sniffer/capabilities.hpp"
#include "sniffer/error.hpp"
#include "sniffer/file_trust.hpp"
#include "sniffer/sniffer_users.hpp"

namespace sniffer {

namespace {

[[noreturn]] void refuse_foreign(const std::string& dir, const struct stat& st, const std::string& detail) {
  throw Error("pin_path " + dir + ": " + file_type_text(st.st_mode) + " of uid " + std::to_string(st.st_uid) + detail +
              ": remove it; the pin directory must be the sensor's own");
}

// Before anything is made there: a directory or link of another user on the
// way to the pin directory's parent would let that user choose where it is.
// (A way that cannot be walked is left to mkdir to report.)
void refuse_foreign_way(const std::string& dir) {
  std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "x/": its trailing '/'
  const std::optional<OtherOwner> other = other_owner_on_path(path.parent_path().string());
  if (!other) return;
  const bool link = other->item == OtherOwner::kLink;
  throw Error("pin_path " + dir + ": the " + (link ? "link" : "directory") + " \"" + other->path +
              "\" on its way is owned by uid " + std::to_string(other->uid) + ", who could " +
              (link ? "re-point it" : "replace what is in it") + ": the pin directory must be the sensor's own");
}

void make_unless_present(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
  const int err = errno;
  // systemd mounts bpffs with mode 0700: another user reaches a directory
  // in it (made theirs beforehand, as the unit's ExecStartPre does) only
  // with CAP_DAC_READ_SEARCH.
  const std::string note =
      err == EACCES ? missing_capabilities_note({kCapDacReadSearch},
                                                "a directory under a bpffs of mode 0700 needs it, and must exist "
                                                "owned by this user")
                    : "";
  throw Error("pin_path " + dir + ": " + errno_text(err) + note);
}

// A link of another user at the pin path: it chooses where the pins go (a
// live sensor's directory, whose pins would be replaced as stale).
void refuse_foreign_link(const std::string& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISLNK(st.st_mode) || sniffer_user(st.st_uid)) return;
  std::string target(PATH_MAX, '\0');
  const ssize_t n = readlink(dir.c_str(), target.data(), target.size());
  target.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  refuse_foreign(dir, st, target.empty() ? "" : " (to " + target + ")");
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string real_path_of(int fd) {
  std::string path(PATH_MAX, '\0');
  const ssize_t n = readlink(fd_path(fd).c_str(), path.data(), path.size());
  if (n <= 0) throw Error("pin directory: readlink " + fd_path(fd) + ": " + errno_text(errno));
  path.resize(static_cast<std::size_t>(n));
  return path;
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Once per start: the pin path is a name anyone may take while no sensor runs.
void warn_if_parent_world_writable(const std::string& dir, int fd) {
  const int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st {};
  const bool world_writable = parent >= 0 && fstat(parent, &st) == 0 && (st.st_mode & S_IWOTH) != 0;
  if (parent >= 0) close(parent);
  if (!world_writable) return;
  spdlog::warn("pin_path {}: its parent directory (mode {}) lets every user place names beside it, this one "
               "too while no sensor runs; mount bpffs with mode=0700 (as the systemd unit does)",
               dir, mode_text(st.st_mode));
}

}  // namespace

PinDirectory::PinDirectory(const std::string& dir, const std::string& locked_path) : dir_(dir) {
  refuse_foreign_way(dir);
  make_unless_present(dir);
  refuse_foreign_link(dir);
  // Every directory and link on the way must be root's or ours: none re-pointed meanwhile.
  fd_ = open_through_trusted_directories("pin_path " + dir, dir);
  struct stat st {};
  if (fstat(fd_, &st) != 0) {
    const int err = errno;
    close(fd_);
    throw Error("pin_path " + dir + ": " + errno_text(err));
  }
  try {
    if (!S_ISDIR(st.st_mode) || !sniffer_user(st.st_uid)) refuse_foreign(dir, st, "");
    real_path_ = real_path_of(fd_);
    if (!locked_path.empty() && real_path_ != locked_path) {
      throw Error("pin_path " + dir + ": leads to " + real_path_ + " now, not to " + locked_path +
                  ", which its instance lock is named after (a link changed meanwhile): refusing to pin there");
    }
  } catch (...) {
    close(fd_);
    throw;
  }
  warn_if_parent_world_writable(dir, fd_);
}

PinDirectory::~PinDirectory() { close(fd_); }

std::string PinDirectory::entry_path(const std::string& name) const { return fd_path(fd_) + "/" + name; }

std::string PinDirectory::shown_path(const std::string& name) const { return dir_ + "/" + name; }

bool PinDirectory::remove_entry(const std::string& name) const { return unlinkat(fd_, name.c_str(), 0) == 0; }

void PinDirectory::remove_if_empty() const {
  struct stat opened {}, named {};
  if (fstat(fd_, &opened) != 0 || lstat(real_path_.c_str(), &named) != 0 || !same_file(opened, named)) return;
  rmdir(real_path_.c_str());
}

}  // namespace sniffer
