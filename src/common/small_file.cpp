#include "sniffer/small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sniffer/error.hpp"

namespace sniffer {

std::string read_small_file(const std::string& path, std::size_t max_bytes, bool regular_only, struct stat* opened) {
  // O_NONBLOCK: opening a FIFO waits for its writer otherwise.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
  if (fd < 0) throw Error(errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw Error(errno_text(EISDIR));
  if (regular_only && !S_ISREG(st.st_mode)) throw Error("not a regular file (a FIFO or a device is not read)");
  if (opened) *opened = st;
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(errno_text(errno));
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) throw Error("more than " + std::to_string(max_bytes >> 20) + " MiB");
  }
}

}  // namespace sniffer
