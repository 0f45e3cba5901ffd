#include "sniffer/capture_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "sniffer/error.hpp"
#include "sniffer/unique_fd.hpp"

namespace sniffer {

namespace {

struct Walk {
  const std::string& dir;  // the argument walked, for messages
  const CaptureInputWarning& warn;
  std::vector<CaptureInput> found;

  void skip(const std::string& path, const std::string& why) const {
    if (warn) warn("--read-pcap " + dir + ": " + path + ": " + why);
  }
  [[noreturn]] void fail(int err) const {
    throw Error("--read-pcap " + dir + ": " + std::generic_category().message(err));
  }
};

bool is_capture_name(const char* name) {
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".pcap" || ext == ".pcapng" || ext == ".cap";
}

// An error of the run, not of the entry looked at: the walk cannot go on.
bool out_of_resources(int err) { return err == EMFILE || err == ENFILE || err == ENOMEM; }

std::string joined(const std::string& dir, const char* name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

FileIdentity identity_in(const struct stat& st) { return FileIdentity{st.st_dev, st.st_ino}; }

// Why the walk does not follow symbolic link `link` (its own stat) to
// `target`, or "" when it does (red team R16-6: a user who may write into a
// data set converted by root linked captures it could not read itself; a link
// loop ended the run). Never a link to a directory, as `find` without -L; a
// link to a file only when it is root's, this user's or the file's owner's
// (as fs.protected_symlinks has it in sticky directories).
std::string not_followed(const struct stat& link, const struct stat& target, bool capture_name) {
  if (S_ISDIR(target.st_mode)) {
    return "a symbolic link to a directory, not followed (name it on the command line to read it)";
  }
  if (!capture_name || link.st_uid == 0 || link.st_uid == geteuid() || link.st_uid == target.st_uid) return "";
  return "a symbolic link of uid " + std::to_string(link.st_uid) + " to a file of uid " +
         std::to_string(target.st_uid) + ", not followed (only links of root, of this user or of the file's owner are)";
}

// What the link open on `link_fd` (O_PATH|O_NOFOLLOW) leads to, found (O_PATH:
// a FIFO's open does not wait) from its own text, not by its name again (a
// link renamed over it meanwhile would be judged by the first one's owner).
// -1 with errno set when it leads nowhere.
int target_of(int dir_fd, int link_fd) {
  char text[PATH_MAX];
  const ssize_t length = readlinkat(link_fd, "", text, sizeof text - 1);
  if (length < 0) return -1;
  text[length] = '\0';
  return openat(dir_fd, text, O_PATH | O_CLOEXEC);
}

void walk_directory(Walk& walk, UniqueFd dir_fd, const std::string& path);

void visit_link(Walk& walk, int dir_fd, int link_fd, const struct stat& link, const std::string& path,
                bool capture_name) {
  const UniqueFd target(target_of(dir_fd, link_fd));
  struct stat st {};
  if (!target || fstat(target.get(), &st) != 0) {
    const int err = errno;
    if (out_of_resources(err)) walk.fail(err);
    if (capture_name) walk.skip(path, "a symbolic link that leads nowhere (" + errno_text(err) + "), skipped");
    return;
  }
  const std::string why = not_followed(link, st, capture_name);
  if (!why.empty()) return walk.skip(path, why);
  if (capture_name && S_ISREG(st.st_mode)) walk.found.push_back({path, identity_in(st)});
}

// The directory `name` whose lookup gave `own`, opened to be read: not if
// something else took its name meanwhile (then nothing of it is read).
void visit_directory(Walk& walk, int dir_fd, const char* name, const struct stat& own, const std::string& path) {
  UniqueFd sub(openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)) return;
  if (!sub) walk.fail(errno);
  struct stat opened {};
  if (fstat(sub.get(), &opened) != 0 || !(identity_in(opened) == identity_in(own))) return;
  walk_directory(walk, std::move(sub), path);
}

// One entry of the directory open on `dir_fd`: found once (O_PATH|O_NOFOLLOW,
// nothing opened), and judged and identified by that lookup's fstat.
void visit(Walk& walk, int dir_fd, const char* name, const std::string& dir_path) {
  const std::string path = joined(dir_path, name);
  UniqueFd entry(openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!entry && errno == ENOENT) return;  // gone meanwhile: nothing to read
  if (!entry) walk.fail(errno);           // a directory listed but not searchable, say: as before, not silently
  struct stat own {};
  if (fstat(entry.get(), &own) != 0) walk.fail(errno);
  const bool capture_name = is_capture_name(name);
  if (S_ISDIR(own.st_mode)) {
    entry.reset();  // one descriptor a level while the walk goes down (a small open-files limit)
    return visit_directory(walk, dir_fd, name, own, path);
  }
  if (S_ISLNK(own.st_mode)) return visit_link(walk, dir_fd, entry.get(), own, path, capture_name);
  if (capture_name && S_ISREG(own.st_mode)) walk.found.push_back({path, identity_in(own)});
}

void walk_directory(Walk& walk, UniqueFd dir_fd, const std::string& path) {
  const std::unique_ptr<DIR, int (*)(DIR*)> entries(fdopendir(dir_fd.get()), closedir);
  if (!entries) walk.fail(errno);
  dir_fd.release();  // closedir closes it
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(entries.get());
    if (!entry) break;
    const std::string name = entry->d_name;
    if (name != "." && name != "..") visit(walk, dirfd(entries.get()), name.c_str(), path);
  }
  if (errno != 0) walk.fail(errno);
}

}  // namespace

std::vector<CaptureInput> captures_under(const std::string& dir, const CaptureInputWarning& warn) {
  Walk walk{dir, warn, {}};
  UniqueFd top(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));  // named: followed if a link
  if (!top) walk.fail(errno);
  walk_directory(walk, std::move(top), dir);
  if (walk.found.empty()) throw Error("--read-pcap " + dir + ": no capture files (*.pcap, *.pcapng, *.cap) in it");
  std::sort(walk.found.begin(), walk.found.end(),
            [](const CaptureInput& a, const CaptureInput& b) { return a.path < b.path; });
  return std::move(walk.found);
}

}  // namespace sniffer
