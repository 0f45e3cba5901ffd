#include "sniffer/accept_guard.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>

#include <spdlog/spdlog.h>

namespace sniffer {

namespace {

std::atomic<std::uint64_t> refused{0};
std::atomic<std::int64_t> last_log_s{0};

// Said at most every 10 s, from whichever thread refused.
void say_refused(int fd, rlim_t limit, std::size_t reserve) {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::int64_t last = last_log_s.load();
  if (now - last < 10 || !last_log_s.compare_exchange_strong(last, now)) return;
  spdlog::warn("connections refused at once: descriptor {} of a limit of {} (RLIMIT_NOFILE) would leave fewer than "
               "{} free; {} refused so far (a connection flood: the crowd cut follows at the next loop turn; or a "
               "limit too low for the daemon's own files: raise it, LimitNOFILE= in a unit)",
               fd, limit, reserve, refused.load());
}

}  // namespace

int accept_keeping_headroom(int listen_fd, sockaddr* addr, socklen_t* len, int flags, std::size_t reserve) {
  // The system call itself: glibc's accept4 is the symbol the executable replaces.
  const int fd = static_cast<int>(syscall(SYS_accept4, listen_fd, addr, len, flags));
  if (fd < 0) {
    if (errno == EMFILE) {
      refused.fetch_add(1);
      errno = ECONNABORTED;
    }
    return -1;
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return fd;
  // At most an eighth of a low limit: the daemon's own descriptors (~60)
  // plus 64 would leave none for a connection under a limit of 120 (red
  // team R15-7).
  reserve = std::min<std::size_t>(reserve, static_cast<std::size_t>(lim.rlim_cur / 8));
  // The lowest free number is the one returned: fd >= limit - reserve means
  // every number below it is taken, fewer than `reserve` left.
  if (static_cast<rlim_t>(fd) < lim.rlim_cur - reserve) return fd;
  close(fd);
  refused.fetch_add(1);
  say_refused(fd, lim.rlim_cur, reserve);
  errno = ECONNABORTED;
  return -1;
}

std::uint64_t accepts_refused_for_descriptors() { return refused.load(); }

}  // namespace sniffer
