#include "sniffer/capture_inputs.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <map>
#include <tuple>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

namespace fs = std::filesystem;

bool is_capture_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".pcap" || ext == ".pcapng" || ext == ".cap";
}

// Why the walk of a directory does not follow symbolic link `link` named like a
// capture (`capture_name`), or "" when it does (red team R16-6: a user who may
// write into a data set converted by root linked captures it could not read
// itself; a link loop ended the run). Never a link to a directory, as `find`
// without -L; a link to a file only when it is root's, this user's or the
// file's owner's (as fs.protected_symlinks has it in sticky directories).
std::string not_followed(const fs::path& link, bool capture_name) {
  struct stat own {}, target {};
  if (lstat(link.c_str(), &own) != 0) return "";  // gone meanwhile: nothing to read
  if (stat(link.c_str(), &target) != 0) {
    const int err = errno;
    return capture_name ? "a symbolic link that leads nowhere (" + errno_text(err) + "), skipped" : "";
  }
  if (S_ISDIR(target.st_mode)) {
    return "a symbolic link to a directory, not followed (name it on the command line to read it)";
  }
  if (!capture_name || own.st_uid == 0 || own.st_uid == geteuid() || own.st_uid == target.st_uid) return "";
  return "a symbolic link of uid " + std::to_string(own.st_uid) + " to a file of uid " +
         std::to_string(target.st_uid) + ", not followed (only links of root, of this user or of the file's owner are)";
}

// Every capture file under `dir`, sorted by path so that a data set's files
// come in their names' order (the merge orders packets by time anyway).
// Symbolic links met in the walk: see not_followed; each skipped one said.
std::vector<std::string> captures_under(const std::string& dir, const CaptureInputWarning& warn) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code ignored;
    const fs::file_status own = it->symlink_status(ignored);
    const bool capture_name = is_capture_name(it->path());
    if (fs::is_symlink(own)) {
      const std::string why = not_followed(it->path(), capture_name);
      if (!why.empty()) {
        if (warn) warn("--read-pcap " + dir + ": " + it->path().string() + ": " + why);
        continue;
      }
    }
    if (capture_name && fs::is_regular_file(it->path(), ignored)) files.push_back(it->path().string());
  }
  if (ec) throw Error("--read-pcap " + dir + ": " + ec.message());
  if (files.empty()) throw Error("--read-pcap " + dir + ": no capture files (*.pcap, *.pcapng, *.cap) in it");
  std::sort(files.begin(), files.end());
  return files;
}

bool is_pattern(const std::string& argument) {
  return argument.find_first_of("*?[") != std::string::npos;
}

// The paths a quoted glob pattern matches, sorted (glob(3) sorts them).
std::vector<std::string> glob_matches(const std::string& pattern) {
  glob_t matches{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &matches);
  std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
  ::globfree(&matches);
  if (rc == GLOB_NOMATCH) throw Error("--read-pcap " + pattern + ": no file matches the pattern");
  if (rc != 0) throw Error("--read-pcap " + pattern + ": the pattern could not be expanded");
  return paths;
}

// One argument's files: itself, a directory's captures, or a pattern's matches.
struct ArgumentFiles {
  std::vector<std::string> files;
  bool named = false;  // the argument itself, a file or "-" (not found by a walk or a pattern)
};

ArgumentFiles files_of(const std::string& argument, const CaptureInputWarning& warn) {
  if (argument == "-") return {{argument}, true};
  std::error_code ec;
  const fs::file_status status = fs::status(argument, ec);
  if (fs::is_directory(status)) return {captures_under(argument, warn)};
  if (fs::exists(status)) return {{argument}, true};
  if (!is_pattern(argument)) throw Error("--read-pcap " + argument + ": no such file or directory");
  std::vector<std::string> files;
  for (const std::string& match : glob_matches(argument)) {
    for (std::string& file : fs::is_directory(match) ? captures_under(match, warn) : std::vector{match}) {
      files.push_back(std::move(file));
    }
  }
  return {std::move(files)};
}

// What a name leads to (links followed): its device and inode, so that a hard
// link, a symbolic link or another spelling of a file is that file (red team
// R16-8), while every pipe ("-", each `<(...)`'s /dev/fd/N) is its own. A
// name that leads nowhere reachable is told by its text (opening it will say
// why it cannot be read).
using FileKey = std::tuple<dev_t, ino_t, std::string>;

FileKey key_of(const std::string& file, const std::optional<FileIdentity>& identity) {
  if (!identity) return {0, 0, file};
  return {identity->device, identity->inode, ""};
}

}  // namespace

std::vector<CaptureInput> resolve_capture_inputs(const std::vector<std::string>& arguments,
                                                 const CaptureInputWarning& warn) {
  struct First {
    std::string name;
    bool named;
  };
  std::vector<CaptureInput> files;
  std::map<FileKey, First> seen;  // each file's first name
  for (const std::string& argument : arguments) {
    auto [found, named] = files_of(argument, warn);
    for (std::string& file : found) {
      std::optional<FileIdentity> identity = identity_of(file);
      const auto [at, fresh] = seen.try_emplace(key_of(file, identity), First{file, named});
      if (fresh) {
        files.push_back({std::move(file), identity});
        continue;
      }
      const First& first = at->second;
      const std::string other = first.name == file ? "" : "the same file as " + first.name;
      if (named && first.named) {  // the operator's own slip: said, nothing read
        throw Error("--read-pcap " + file + ": given twice (" + (other.empty() ? "" : other + ": ") +
                    "its packets would be read twice)");
      }
      if (warn) {  // a second name met in a walk or a pattern's matches: read once, under its first
        warn("--read-pcap " + (named ? file : argument + ": " + file) + ": " +
             (other.empty() ? "given twice" : other) + ", skipped (its packets are read once)");
      }
    }
  }
  return files;
}

}  // namespace sniffer
