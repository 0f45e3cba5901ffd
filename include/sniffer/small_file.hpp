// Reading a small text file whole (a config, a rules file): bounded, so that
// a wrong path (a device, a huge file) fails at once with a clear reason.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <string>

namespace sniffer {

// The file's bytes. Throws Error whose text is the reason only (the errno
// text, e.g. "Is a directory (errno 21)", or "more than N MiB"), for the
// caller to prefix with what it was reading. regular_only: anything but a
// regular file (a FIFO, a device) is refused, without waiting for a writer:
// the daemon re-reads its config in its capture loop (SIGHUP). opened: set to
// the fstat of the file read, for checks of who may change it.
std::string read_small_file(const std::string& path, std::size_t max_bytes, bool regular_only = false,
                            struct stat* opened = nullptr);

}  // namespace sniffer
