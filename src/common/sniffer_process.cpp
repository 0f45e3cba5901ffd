#include "sniffer/sniffer_process.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <string_view>

namespace sniffer {

namespace {

constexpr std::string_view kSnifferName = "sniffer";

std::string proc_path(pid_t pid, const char* item) { return "/proc/" + std::to_string(pid) + "/" + item; }

bool same_executable_as_ours(pid_t pid) {
  struct stat theirs {}, ours {};
  return ::stat(proc_path(pid, "exe").c_str(), &theirs) == 0 && ::stat("/proc/self/exe", &ours) == 0 &&
         theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino;
}

std::optional<std::string> command_name(const std::string& pid) {
  std::ifstream comm("/proc/" + pid + "/comm");
  std::string name;
  if (!std::getline(comm, name)) return std::nullopt;
  return name;
}

}  // namespace

std::optional<std::string> executable_path(pid_t pid) {
  std::string target(4096, '\0');
  const ssize_t n = ::readlink(proc_path(pid, "exe").c_str(), target.data(), target.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) return std::nullopt;
  target.resize(static_cast<std::size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";  // replaced by an upgrade since it started
  if (target.size() > kDeleted.size() && target.ends_with(kDeleted)) target.resize(target.size() - kDeleted.size());
  return target;
}

std::optional<bool> runs_sniffer(pid_t pid) {
  if (const std::optional<std::string> path = executable_path(pid)) {
    const std::size_t slash = path->rfind('/');
    const std::string_view name = std::string_view(*path).substr(slash == std::string::npos ? 0 : slash + 1);
    return name == kSnifferName || same_executable_as_ours(pid);
  }
  if (const std::optional<std::string> name = command_name(std::to_string(pid))) {
    return *name == kSnifferName || name == command_name("self");
  }
  return std::nullopt;
}

}  // namespace sniffer
