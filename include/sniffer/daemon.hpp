// The daemon's life cycle: resolve interfaces, load, fill maps, attach,
// drain until SIGINT/SIGTERM, detach, report.
#pragma once

#include <functional>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/pipeline.hpp"

namespace sniffer {

struct Report;  // report.hpp

struct RunOptions {
  bool dry_run = false;  // load, verify and fill maps; attach nothing
  // Re-reads the configuration on SIGHUP (throws ConfigInvalid); null: no reload.
  std::function<Config()> reload;
};

// The programs' load-time settings from the config.
LoadOptions load_options(const Config& config);
// iface_configs (one counter slot each, from 1) and the filter maps.
void fill_maps(BpfPrograms& progs, const Config& config, const InterfaceTable& interfaces);

// Kernel flow aggregation with packet events: flows.packet_ports (else none).
std::vector<std::uint16_t> record_ports(const Config& config);
// outputs, plus the programs' flow map when they aggregate flows.
PipelineOutputs kernel_flow_outputs(const BpfPrograms& progs, PipelineOutputs outputs);
// Kernel flow aggregation: adds the kernel's share of the flow counters
// (packets, created) to the report's flow counters.
void add_kernel_flow_counts(const BpfPrograms& progs, Report& report);

// Returns the process exit code. Throws Error / ConfigInvalid on failure.
int run_daemon(const Config& config, const RunOptions& options);

}  // namespace sniffer
