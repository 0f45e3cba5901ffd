// The daemon: builds a Sensor (sensor.hpp) from the config, attaches it, and
// runs its loop (signals, reload, sd_notify, periodic reports) until
// SIGINT/SIGTERM; then detaches and prints the final report.
#pragma once

#include <functional>

#include "sniffer/config.hpp"

namespace sniffer {

struct Report;  // report.hpp

struct RunOptions {
  bool dry_run = false;  // load, verify and fill maps; attach nothing
  // Re-reads the configuration on SIGHUP (throws ConfigInvalid); null: no reload.
  std::function<Config()> reload;
};

// Returns the process exit code. Throws Error / ConfigInvalid on failure.
int run_daemon(const Config& config, const RunOptions& options);

}  // namespace sniffer
