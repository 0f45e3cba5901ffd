#include "sniffer/capture_inputs.hpp"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

namespace fs = std::filesystem;

bool is_capture_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".pcap" || ext == ".pcapng" || ext == ".cap";
}

// Every capture file under `dir`, sorted by path so that a data set's files
// come in their names' order (the merge orders packets by time anyway).
std::vector<std::string> captures_under(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && is_capture_name(it->path())) files.push_back(it->path().string());
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
std::vector<std::string> files_of(const std::string& argument) {
  if (argument == "-") return {argument};
  std::error_code ec;
  const fs::file_status status = fs::status(argument, ec);
  if (fs::is_directory(status)) return captures_under(argument);
  if (fs::exists(status)) return {argument};
  if (!is_pattern(argument)) throw Error("--read-pcap " + argument + ": no such file or directory");
  std::vector<std::string> files;
  for (const std::string& match : glob_matches(argument)) {
    for (std::string& file : fs::is_directory(match) ? captures_under(match) : std::vector{match}) {
      files.push_back(std::move(file));
    }
  }
  return files;
}

}  // namespace

std::vector<std::string> resolve_capture_inputs(const std::vector<std::string>& arguments) {
  std::vector<std::string> files;
  std::set<std::string> seen;  // canonical paths ("-" as itself)
  for (const std::string& argument : arguments) {
    for (std::string& file : files_of(argument)) {
      std::error_code ec;
      const fs::path canonical = file == "-" ? fs::path("-") : fs::weakly_canonical(file, ec);
      if (!seen.insert(canonical.string()).second) {
        throw Error("--read-pcap " + file + ": given twice (its packets would be read twice)");
      }
      files.push_back(std::move(file));
    }
  }
  return files;
}

}  // namespace sniffer
