#include "sniffer/block_state.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "sniffer/config_names.hpp"
#include "sniffer/output_file.hpp"

namespace sniffer {

namespace {

using json = nlohmann::json;

constexpr const char* kFormat = "sniffer blocklist state";
constexpr int kVersion = 1;

template <typename T, std::size_t N>
T choice(const json& entry, const char* key, const EnumName<T> (&names)[N], const std::string& path) {
  const json& v = entry.at(key);
  std::string expected;
  for (const auto& n : names) {
    if (v.is_string() && v.get<std::string>() == n.name) return n.value;
    expected += (expected.empty() ? "\"" : " or \"") + std::string(n.name) + "\"";
  }
  throw Error(path + "." + key + ": " + v.dump() + ", expected " + expected);
}

BlockRule parse_entry(const json& e, const std::string& path) {
  if (!e.is_object()) throw Error(path + ": not an object");
  BlockRule r;
  try {
    r.prefix = Prefix::parse(e.at("prefix").get<std::string>());
  } catch (const Error& x) {
    throw Error(path + ".prefix: " + x.what());
  } catch (const json::exception& x) {
    throw Error(path + ": " + x.what());
  }
  try {
    r.direction = choice(e, "direction", kBlockDirectionNames, path);
    r.action = choice(e, "action", kBlockActionNames, path);
    r.created_wall_ns = e.at("created_ns").get<std::uint64_t>();
    r.expires_wall_ns = e.at("expires_ns").get<std::uint64_t>();
    r.reason = e.at("reason").get<std::string>();
    r.origin = e.at("origin").get<std::string>();
  } catch (const json::exception& x) {
    throw Error(path + ": " + x.what());
  }
  return r;
}

// "20261206T053000Z": when a bad file was set aside.
std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Renames `from` to `base`, or to "base-2", "base-3"... when that name is
// taken (two bad files within one second): never over an earlier bad file.
// Returns the name; "" with errno set when it cannot be moved.
std::string rename_to_free_name(const std::string& from, const std::string& base) {
  for (int n = 1; n <= 1000; ++n) {
    const std::string to = n == 1 ? base : base + "-" + std::to_string(n);
    if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return to;
    if (errno == EINVAL) {  // a file system without RENAME_NOREPLACE: a hard link fails on a taken name too
      if (link(from.c_str(), to.c_str()) == 0) {
        if (unlink(from.c_str()) == 0) return to;
        const int err = errno;
        unlink(to.c_str());
        errno = err;
        return {};
      }
    }
    if (errno != EEXIST) return {};
  }
  errno = EEXIST;
  return {};
}

// The whole file; an errno text on failure.
bool read_all(const std::string& path, std::string& text, std::string& problem, bool& missing) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    missing = errno == ENOENT;
    problem = "open: " + errno_text(errno);
    return false;
  }
  char buf[16384];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) problem = "read: " + errno_text(errno);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return problem.empty();
}

// `path` with every symbolic link resolved, a dangling last one too (the
// file it names may not exist yet); as given when that fails.
std::string resolved(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) return path;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) return path;
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  ec.clear();
  const fs::path out = fs::weakly_canonical(p, ec);
  return ec || out.empty() ? path : out.string();
}

// The lock's descriptor: STATE.lock, read-write, created as needed. On a
// read-only filesystem (or one not ours to write) the existing lock file
// read-only, or else the state file's directory: flock works on either, so
// sensors still exclude each other and the blocks can be restored (a
// restart after /var went read-only refused to start at all: red team
// R13-10). `writable` says which it was.
int open_lock(const std::string& lock, const std::string& dir, bool& writable) {
  writable = true;
  const int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd >= 0 || (errno != EROFS && errno != EACCES)) return fd;
  writable = false;
  const int existing = open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (existing >= 0 || errno != ENOENT) return existing;
  return open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

// Removes what a writer killed mid-write (SIGKILL, the OOM killer) left
// beside the state file: OutputFile's ".NAME.XXXXXX". With the lock held no
// live writer has one (red team R13-7). Returns how many.
std::size_t remove_dead_temporaries(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path file(target);
  const std::string prefix = "." + file.filename().string() + ".";
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(file.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0 &&
        !entry.is_symlink(ec) && entry.is_regular_file(ec) && fs::remove(entry.path(), ec)) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace

std::string block_state_text(const std::vector<BlockRule>& rules) {
  json entries = json::array();
  for (const BlockRule& r : rules) {
    entries.push_back({{"prefix", r.prefix.text()},
                       {"direction", to_string(r.direction)},
                       {"action", to_string(r.action)},
                       {"created_ns", r.created_wall_ns},
                       {"expires_ns", r.expires_wall_ns},
                       {"reason", r.reason},
                       {"origin", r.origin}});
  }
  json doc = {{"format", kFormat}, {"version", kVersion}, {"entries", entries}};
  return doc.dump() + "\n";  // compact: 65,536 entries are ~12 MB, not ~31
}

std::vector<BlockRule> parse_block_state(const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("not JSON: ") + e.what());
  }
  if (!doc.is_object() || doc.value("format", json()) != kFormat) {
    throw Error(std::string("not a blocklist state file (no \"format\": \"") + kFormat + "\")");
  }
  if (doc.value("version", json()) != kVersion) {
    throw Error("version " + doc.value("version", json()).dump() + ": this sniffer reads version " +
                std::to_string(kVersion));
  }
  const json& entries = doc.value("entries", json());
  if (!entries.is_array()) throw Error("entries: not an array");
  std::vector<BlockRule> out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out.push_back(parse_entry(entries[i], "entries[" + std::to_string(i) + "]"));
  }
  return out;
}

BlockStateFile::BlockStateFile(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path_).parent_path(), ec);
  if (ec) throw Error("blocklist.state_file " + path_ + ": create its directory: " + ec.message());
  // Symbolic links resolved: two spellings of one file (a link, "x/../")
  // share one lock, and the file read, written and moved aside is the one locked.
  target_ = resolved(path_);
  struct stat st{};
  if (stat(target_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw Error("blocklist.state_file " + path_ + ": " + (S_ISDIR(st.st_mode) ? "a directory" : "not a regular file") +
                (target_ != path_ ? " (" + target_ + ")" : "") +
                ": it must name a regular file, or one that does not exist yet");
  }
  const std::string lock = target_ + ".lock";
  const int fd = open_lock(lock, fs::path(target_).parent_path().string(), writable_);
  if (fd < 0) throw Error("blocklist.state_file " + path_ + ": lock file " + lock + ": " + errno_text(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    close(fd);
    if (err == EWOULDBLOCK) {
      throw Error("blocklist.state_file " + path_ + " is in use by another sniffer (pid " + holder + ", lock " + lock +
                  "): two sensors never share one; give this one its own blocklist.state_file");
    }
    throw Error("blocklist.state_file " + path_ + ": lock " + lock + ": flock: " + errno_text(err));
  }
  lock_fd_ = fd;  // the file stays after exit: removing it would race the next holder's open
  if (!writable_) return;
  dead_temporaries_ = remove_dead_temporaries(target_);
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    close(fd);
    lock_fd_ = -1;
    throw Error("blocklist.state_file " + path_ + ": lock " + lock + ": write pid: " + errno_text(err));
  }
}

std::uint64_t BlockStateFile::free_bytes() const {
  struct statvfs fs {};
  if (statvfs(std::filesystem::path(target_).parent_path().c_str(), &fs) != 0) return 0;
  return std::uint64_t{fs.f_bavail} * fs.f_frsize;
}

BlockStateFile::~BlockStateFile() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

BlockStateFile::Loaded BlockStateFile::load() {
  Loaded out;
  std::string text;
  bool missing = false;
  if (read_all(target_, text, out.problem, missing)) {
    try {
      out.rules = parse_block_state(text);
      return out;
    } catch (const Error& e) {
      out.problem = e.what();
    }
  } else if (missing) {
    out.problem.clear();
    return out;
  }
  struct stat st{};
  if (stat(target_.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {  // only a regular file is ever moved aside
    throw Error("blocklist.state_file " + path_ + ": " + out.problem + ": not a regular file, left as it is");
  }
  const std::string aside = target_ + ".bad-" + utc_stamp();
  out.set_aside = rename_to_free_name(target_, aside);
  if (out.set_aside.empty()) {
    throw Error("blocklist.state_file " + path_ + ": " + out.problem + "; it cannot be moved aside to " + aside +
                " either (" + errno_text(errno) +
                "): the sensor does not start rather than overwrite the blocks it holds");
  }
  return out;
}

void BlockStateFile::save(const std::vector<BlockRule>& rules) {
  OutputFile file(target_, "blocklist.state_file");
  file.write(block_state_text(rules));
  file.commit();
}

}  // namespace sniffer
