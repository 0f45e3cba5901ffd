#include "sniffer/capture_inputs.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <filesystem>
#include <map>
#include <tuple>

#include "sniffer/capture_walk.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

namespace {

namespace fs = std::filesystem;

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
  std::vector<CaptureInput> files;
  bool named = false;  // the argument itself, a file or "-" (not found by a walk or a pattern)
};

// A file named on the command line, with what it leads to now.
CaptureInput by_name(const std::string& file) { return {file, identity_of(file)}; }

// A pattern's match, looked up once: a directory's captures; a regular file
// with what that lookup found; nothing else (red team R18-8: a FIFO named like
// a capture in a data set hung the run in its open, as the walk skips it).
std::vector<CaptureInput> files_matched(const std::string& pattern, const std::string& match,
                                        const CaptureInputWarning& warn) {
  struct stat st {};
  if (stat(match.c_str(), &st) != 0) return {{match, std::nullopt}};  // gone: opening it will say so
  if (S_ISDIR(st.st_mode)) return captures_under(match, warn);
  if (S_ISREG(st.st_mode)) return {{match, FileIdentity{st.st_dev, st.st_ino}}};
  if (warn) warn("--read-pcap " + pattern + ": " + match + ": not a regular file, skipped");
  return {};
}

ArgumentFiles files_of(const std::string& argument, const CaptureInputWarning& warn) {
  if (argument == "-") return {{by_name(argument)}, true};
  std::error_code ec;
  const fs::file_status status = fs::status(argument, ec);
  if (fs::is_directory(status)) return {captures_under(argument, warn)};
  if (fs::exists(status)) return {{by_name(argument)}, true};
  if (!is_pattern(argument)) throw Error("--read-pcap " + argument + ": no such file or directory");
  std::vector<CaptureInput> files;
  for (const std::string& match : glob_matches(argument)) {
    for (CaptureInput& file : files_matched(argument, match, warn)) files.push_back(std::move(file));
  }
  if (files.empty()) throw Error("--read-pcap " + argument + ": no regular file matches the pattern");
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
    for (CaptureInput& input : found) {
      const std::string& file = input.path;
      const auto [at, fresh] = seen.try_emplace(key_of(file, input.identity), First{file, named});
      if (fresh) {
        files.push_back(std::move(input));
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
