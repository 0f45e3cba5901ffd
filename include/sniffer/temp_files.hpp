// Temporary output files that a fatal signal must not leave behind.
//
// OutputFile writes a table beside its target under a hidden name and renames
// it at commit; a run that fails removes it in its destructor. A run stopped
// by a signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, or the mapped reader's SIGBUS
// guard) runs no destructor, and a long run's hidden file could be gigabytes.
// So the temporary paths are registered here, and a signal whose action was
// the default removes them before the process dies of it as before (the
// daemon's own handlers, installed later, take precedence).
#pragma once

#include <cstddef>

namespace sniffer::temp_files {

// Registers the `count` paths of `paths` (the caller keeps the array and the
// strings alive, unchanged, until forget()). Returns the slot, or -1 when
// every slot is taken (those files are then left behind by a signal, as
// before). The first call installs the signal handlers.
int remember(const char* const* paths, std::size_t count);
void forget(int slot);

// Unlinks every registered path, then (`directories_too`) removes those that
// are (now empty) directories. Async-signal-safe. A -j worker that fails on
// its own (the SIGBUS guard) leaves the parts directory, which the other
// workers still write into, to the parent.
void remove_all_now(bool directories_too = true) noexcept;

}  // namespace sniffer::temp_files
