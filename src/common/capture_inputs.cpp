#include "sniffer/capture_inputs.hpp"

#include <glob.h>
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

// A file given by name (an argument, a pattern's match), with what it leads to now.
CaptureInput by_name(const std::string& file) { return {file, identity_of(file)}; }

ArgumentFiles files_of(const std::string& argument, const CaptureInputWarning& warn) {
  if (argument == "-") return {{by_name(argument)}, true};
  std::error_code ec;
  const fs::file_status status = fs::status(argument, ec);
  if (fs::is_directory(status)) return {captures_under(argument, warn)};
  if (fs::exists(status)) return {{by_name(argument)}, true};
  if (!is_pattern(argument)) throw Error("--read-pcap " + argument + ": no such file or directory");
  std::vector<CaptureInput> files;
  for (const std::string& match : glob_matches(argument)) {
    for (CaptureInput& file : fs::is_directory(match) ? captures_under(match, warn) : std::vector{by_name(match)}) {
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
