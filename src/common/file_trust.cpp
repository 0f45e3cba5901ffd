#include "sniffer/file_trust.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <vector>

#include "sniffer/error.hpp"
#include "sniffer/sniffer_users.hpp"
#include "sniffer/unique_fd.hpp"

namespace sniffer {

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool root_or_us(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

std::string file_type_text(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a file of an unknown type";
}

namespace {

mode_t write_bits(Writers writers) { return writers == Writers::kGroupOrOther ? (S_IWGRP | S_IWOTH) : S_IWOTH; }
const char* writers_text(Writers writers) {
  return writers == Writers::kGroupOrOther ? "group or other" : "any local user";
}
const char* chmod_text(Writers writers) { return writers == Writers::kGroupOrOther ? "go-w" : "o-w"; }

}  // namespace

void refuse_if_file_writable(const std::string& name, const std::string& path, const struct stat& st, Writers writers,
                             const std::string& change) {
  if ((st.st_mode & write_bits(writers)) != 0) {
    throw Error(name + ": mode " + mode_text(st.st_mode) + " lets " + writers_text(writers) + " " + change +
                "; refusing it (chmod " + chmod_text(writers) + " \"" + path + "\")");
  }
}

void refuse_if_writable(const std::string& name, const std::string& path, const struct stat& st, Writers writers,
                        const std::string& change) {
  refuse_if_file_writable(name, path, st, writers, change);
  const mode_t bits = write_bits(writers);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  struct stat d {};
  if (::stat(dir.c_str(), &d) == 0 && (d.st_mode & bits) != 0 && (d.st_mode & S_ISVTX) == 0) {
    throw Error(name + ": its directory \"" + dir + "\" (mode " + mode_text(d.st_mode) + ") lets " +
                writers_text(writers) + " replace it; refusing it (chmod " + chmod_text(writers) + " \"" + dir +
                "\")");
  }
}

namespace {

// As the kernel's MAXSYMLINKS.
constexpr int kMaxLinks = 40;

bool others_may_write(const struct stat& st) { return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0; }

// The names of `path`, without empty ones and ".": "a//./b/" -> {a, b}.
std::deque<std::string> names_of(const std::string& path) {
  std::deque<std::string> names;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string name = path.substr(start, end - start);
    if (!name.empty() && name != ".") names.push_back(std::move(name));
    start = end + 1;
  }
  return names;
}

// A directory entered on the way, and the names that lead to it from "/".
struct Step {
  UniqueFd fd;
  struct stat st;
  std::string path;
};

// Throws unless `dir` (a name is about to be looked up in it) can be changed
// by root and us alone; `where` says which directory it is to the reader.
void refuse_untrusted_directory(const std::string& name, const Step& dir, const std::string& where) {
  if (!root_or_us(dir.st.st_uid)) {
    throw Error(name + ": " + where + " is owned by uid " + std::to_string(dir.st.st_uid) +
                ", who could replace it; refusing it (chown root \"" + dir.path + "\")");
  }
  if (others_may_write(dir.st) && (dir.st.st_mode & S_ISVTX) == 0) {
    throw Error(name + ": " + where + " (mode " + mode_text(dir.st.st_mode) +
                ") lets group or other replace it; refusing it (chmod go-w \"" + dir.path + "\")");
  }
}

// In a sticky directory others may write, a link's owner may re-point it.
void refuse_repointable_link(const std::string& name, const Step& dir, const struct stat& link,
                             const std::string& link_path) {
  if (others_may_write(dir.st) && !root_or_us(link.st_uid)) {
    throw Error(name + ": the link \"" + link_path + "\" on its path is owned by uid " + std::to_string(link.st_uid) +
                ", who could re-point it (its directory \"" + dir.path + "\" has mode " + mode_text(dir.st.st_mode) +
                "); refusing it (chown -h root \"" + link_path + "\", or give the path it points to)");
  }
}

// What a walk to a file looks at on its way (each may throw): every directory
// a name is looked up in (`where` says which to a reader), every link met.
struct WalkChecks {
  std::function<void(const Step& dir, const std::string& where)> directory;
  std::function<void(const Step& dir, const struct stat& link, const std::string& link_path)> link;
};

// The file the walk reached: its descriptor, the names leading to it from
// "/", and whether a link led there.
struct Walked {
  int fd;
  std::string path;
  bool through_link;
};

// open_through_trusted_directories' walk, with `checks` on its way.
Walked open_walking(const std::string& name, const std::string& path, const WalkChecks& checks) {
  auto cannot_open = [&](int err) { return Error(name + ": cannot open: " + errno_text(err)); };
  if (path.empty()) throw cannot_open(ENOENT);
  std::string absolute = path;
  if (path.front() != '/') {
    // getcwd names the working directory's real location: its directories are walked too.
    char* cwd = ::getcwd(nullptr, 0);
    if (cwd == nullptr) throw cannot_open(errno);
    absolute = std::string(cwd) + "/" + path;
    std::free(cwd);
  }
  std::vector<Step> steps;  // "/", then each directory entered below it
  auto enter_root = [&] {
    steps.clear();
    UniqueFd fd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) throw cannot_open(errno);
    steps.push_back({std::move(fd), st, "/"});
  };
  enter_root();
  std::deque<std::string> todo = names_of(absolute);
  int links = 0;
  while (!todo.empty()) {
    const std::string entry = std::move(todo.front());
    todo.pop_front();
    if (entry == "..") {  // back to a directory already checked on the way down ("/" stays "/")
      if (steps.size() > 1) steps.pop_back();
      continue;
    }
    const Step& dir = steps.back();
    checks.directory(dir, (todo.empty() ? "its directory \"" : "the directory \"") + dir.path +
                              (todo.empty() ? "\"" : "\" on its path"));
    const std::string entry_path = (steps.size() == 1 ? "/" : dir.path + "/") + entry;
    struct stat st {};
    if (::fstatat(dir.fd.get(), entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw cannot_open(errno);
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxLinks) throw cannot_open(ELOOP);
      checks.link(dir, st, entry_path);
      std::string target(PATH_MAX, '\0');
      const ssize_t n = ::readlinkat(dir.fd.get(), entry.c_str(), target.data(), target.size());
      if (n < 0) throw cannot_open(errno);
      if (static_cast<std::size_t>(n) >= target.size()) throw cannot_open(ENAMETOOLONG);
      target.resize(static_cast<std::size_t>(n));
      if (target.empty()) throw cannot_open(ENOENT);
      std::deque<std::string> more = names_of(target);
      todo.insert(todo.begin(), more.begin(), more.end());
      if (target.front() == '/') enter_root();
      continue;
    }
    if (todo.empty()) {  // the file: opened from the directory just checked, not through a link
      const int fd = ::openat(dir.fd.get(), entry.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
      if (fd < 0) throw cannot_open(errno);
      return {fd, entry_path, links > 0};
    }
    UniqueFd fd(::openat(dir.fd.get(), entry.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat entered {};
    if (fd.get() < 0 || ::fstat(fd.get(), &entered) != 0) throw cannot_open(errno);
    steps.push_back({std::move(fd), entered, entry_path});
  }
  // The path names a directory ("/", "a/.."): opened, for the caller to say it is not a file.
  const int fd = ::openat(steps.back().fd.get(), ".", O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) throw cannot_open(errno);
  return {fd, steps.back().path, links > 0};
}

}  // namespace

int open_through_trusted_directories(const std::string& name, const std::string& path) {
  const WalkChecks refuse_untrusted{
      .directory = [&](const Step& dir, const std::string& where) { refuse_untrusted_directory(name, dir, where); },
      .link = [&](const Step& dir, const struct stat& link,
                  const std::string& link_path) { refuse_repointable_link(name, dir, link, link_path); },
  };
  return open_walking(name, path, refuse_untrusted).fd;
}

std::optional<OtherOwner> other_owner_on_path(const std::string& path) {
  std::optional<OtherOwner> found;
  const auto note = [&](const std::string& item, uid_t uid, OtherOwner::Item what) {
    if (!found && !sniffer_user(uid)) found = OtherOwner{item, uid, what};
  };
  const WalkChecks note_other_owners{
      .directory = [&](const Step& dir, const std::string&) { note(dir.path, dir.st.st_uid, OtherOwner::kDirectory); },
      // Elsewhere only the directory's owner may re-point a link.
      .link = [&](const Step& dir, const struct stat& link, const std::string& link_path) {
        if (others_may_write(dir.st)) note(link_path, link.st_uid, OtherOwner::kLink);
      },
  };
  try {
    const Walked walked = open_walking("", path, note_other_owners);
    const UniqueFd fd(walked.fd);
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0) {
      note(walked.path, st.st_uid, walked.through_link ? OtherOwner::kLinkedFile : OtherOwner::kFile);
    }
  } catch (const Error&) {
    return std::nullopt;  // gone or unreachable meanwhile: the caller's read says so
  }
  return found;
}

}  // namespace sniffer
