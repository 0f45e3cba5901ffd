// The daemon's life cycle: resolve interfaces, load, fill maps, attach,
// drain until SIGINT/SIGTERM, detach, report.
#pragma once

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/interfaces.hpp"

namespace sniffer {

struct RunOptions {
  bool dry_run = false;  // load, verify and fill maps; attach nothing
};

// The programs' load-time settings from the config.
LoadOptions load_options(const Config& config);
// iface_configs and the filter maps from the config.
void fill_maps(BpfPrograms& progs, const Config& config, const InterfaceTable& interfaces);

// Returns the process exit code. Throws Error / ConfigInvalid on failure.
int run_daemon(const Config& config, const RunOptions& options);

}  // namespace sniffer
