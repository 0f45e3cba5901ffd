// The daemon's life cycle: resolve interfaces, load, fill maps, attach,
// drain until SIGINT/SIGTERM, detach, report.
#pragma once

#include "sniffer/config.hpp"

namespace sniffer {

struct RunOptions {
  bool dry_run = false;  // load, verify and fill maps; attach nothing
};

// Returns the process exit code. Throws Error / ConfigInvalid on failure.
int run_daemon(const Config& config, const RunOptions& options);

}  // namespace sniffer
