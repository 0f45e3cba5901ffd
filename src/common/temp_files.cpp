// The registry of temporary output files (see temp_files.hpp): fixed slots of
// atomic pointers, so that a signal handler can read them at any moment.
#include "sniffer/temp_files.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>

namespace sniffer::temp_files {

namespace {

// A registered list of paths. `count` is set after `paths` is taken and
// cleared before it is released: a handler reading in between sees fewer.
struct Slot {
  std::atomic<const char* const*> paths{nullptr};
  std::atomic<std::size_t> count{0};
};

// Every output at once (-j's parts are one list); beyond them, not removed.
std::array<Slot, 64> g_slots{};

// Removes the files, then dies of the signal with its default action (the
// handler was installed with SA_RESETHAND; the raised signal is delivered
// when the handler returns), so the exit status says which signal it was.
void on_fatal_signal(int sig) {
  remove_all_now();
  raise(sig);
}

// Only where the action is still the default: a handler someone installed
// (the daemon's SIGHUP, SIGINT and SIGTERM) and an ignored signal (a
// background job's SIGINT) are left alone.
void install_handlers() {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) {
    struct sigaction current {};
    if (sigaction(sig, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) continue;
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace

int remember(const char* const* paths, std::size_t count) {
  static std::once_flag installed;
  std::call_once(installed, install_handlers);
  for (std::size_t i = 0; i < g_slots.size(); ++i) {
    const char* const* expected = nullptr;
    if (g_slots[i].paths.compare_exchange_strong(expected, paths)) {
      g_slots[i].count.store(count);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void forget(int slot) {
  if (slot < 0) return;
  g_slots[static_cast<std::size_t>(slot)].count.store(0);
  g_slots[static_cast<std::size_t>(slot)].paths.store(nullptr);
}

void remove_all_now(bool directories_too) noexcept {
  // Files first, then directories (-j's parts directory, emptied by then;
  // rmdir of a file already unlinked fails harmlessly).
  for (const bool directories : {false, true}) {
    if (directories && !directories_too) break;
    for (const Slot& slot : g_slots) {
      const char* const* paths = slot.paths.load();
      const std::size_t count = slot.count.load();
      for (std::size_t i = 0; paths != nullptr && i < count; ++i) directories ? rmdir(paths[i]) : unlink(paths[i]);
    }
  }
}

}  // namespace sniffer::temp_files
