#include "sniffer/capture_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "sniffer/error.hpp"

namespace sniffer {

bool plain_capture_file_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool CaptureDirectory::temporary_name(const std::string& name) {
  constexpr std::size_t kSuffix = 7;  // ".XXXXXX"
  if (name.size() < 1 + 1 + kSuffix || name.front() != '.') return false;
  const std::string middle = name.substr(1, name.size() - 1 - kSuffix);
  const std::string suffix = name.substr(name.size() - kSuffix);
  const auto letter_or_digit = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return plain_capture_file_name(middle) && suffix.front() == '.' &&
         std::all_of(suffix.begin() + 1, suffix.end(), letter_or_digit);
}

CaptureDirectory::CaptureDirectory(std::string path) : path_(std::move(path)) {
  try {
    claim();
  } catch (const Error& e) {
    spdlog::warn("capture directory: {} (the first capture tries again)", e.what());
  }
}

CaptureDirectory::~CaptureDirectory() {
  if (fd_ >= 0) close(fd_);
}

void CaptureDirectory::prepare() {
  if (fd_ >= 0) return;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) throw Error(parent.string() + ": create: " + ec.message());
  if (mkdir(path_.c_str(), 0750) != 0 && errno != EEXIST) throw Error(path_ + ": mkdir: " + errno_text(errno));
  if (!claim()) throw Error(path_ + ": open: " + errno_text(ENOENT));
}

bool CaptureDirectory::claim() {
  const int fd = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    throw Error(path_ + ": open: " + errno_text(errno));
  }
  fd_ = fd;
  if (flock(fd_, LOCK_EX | LOCK_NB) == 0) {
    remove_leftovers();
  } else if (errno == EWOULDBLOCK) {
    spdlog::info("capture directory {} is shared with another running sensor: its temporary files are left alone",
                 path_);
  }
  // Every sensor using the directory holds it shared: none of them finds the
  // exclusive lock free while another may be writing a capture there.
  while (flock(fd_, LOCK_SH) != 0 && errno == EINTR) {
  }
  return true;
}

std::optional<std::uint64_t> CaptureDirectory::free_bytes() const {
  struct statvfs st {};
  if (fd_ < 0 || fstatvfs(fd_, &st) != 0) return std::nullopt;
  return std::uint64_t{st.f_bavail} * st.f_frsize;
}

void CaptureDirectory::remove_leftovers() {
  DIR* dir = fdopendir(dup(fd_));
  if (dir == nullptr) return;
  while (const dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (!temporary_name(name)) continue;
    struct stat st {};
    if (fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (unlinkat(fd_, name.c_str(), 0) != 0) {
      spdlog::warn("capture directory {}: {} (a killed capture's temporary file): remove: {}", path_, name,
                   errno_text(errno));
      continue;
    }
    spdlog::warn("capture directory {}: removed {} ({} bytes), the temporary file of a capture a stopped sensor "
                 "never finished (killed)",
                 path_, name, static_cast<long long>(st.st_size));
  }
  closedir(dir);
}

}  // namespace sniffer
