#include "sniffer/bpffs.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

namespace sniffer {

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;

bool same_file(const char* a, const char* b) {
  struct stat x {}, y {};
  return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

}  // namespace

bool bpffs_mounted() {
  struct statfs fs {};
  return statfs(kBpfFsRoot, &fs) == 0 && static_cast<long>(fs.f_type) == kBpfFsMagic;
}

std::string bpffs_shell_prefix() {
  // In pid 1's mount namespace, a host shell sees the same /sys/fs/bpf. When
  // that cannot be told (pid 1 hidden, as under systemd's ProtectProc), the
  // nsenter form is printed: it works in every case.
  if (same_file("/proc/1/ns/mnt", "/proc/self/ns/mnt")) return {};
  return "nsenter --target " + std::to_string(getpid()) + " --mount ";
}

std::string network_namespace_name() {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return {};
  std::string name;
  while (const dirent* entry = readdir(dir)) {
    const std::string file = entry->d_name;
    if (file == "." || file == "..") continue;
    if (same_file(("/run/netns/" + file).c_str(), "/proc/self/ns/net")) {
      name = file;
      break;
    }
  }
  closedir(dir);
  return name;
}

}  // namespace sniffer
