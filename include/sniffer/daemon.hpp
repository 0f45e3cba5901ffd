// The daemon's life cycle: resolve interfaces, load, fill maps, attach,
// drain until SIGINT/SIGTERM, detach, report.
#pragma once

#include <functional>

#include <nlohmann/json_fwd.hpp>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/pipeline.hpp"

namespace sniffer {

struct RunOptions {
  bool dry_run = false;  // load, verify and fill maps; attach nothing
  // Re-reads the configuration on SIGHUP (throws ConfigInvalid); null: no reload.
  std::function<Config()> reload;
};

// iface_configs (one counter slot each, from 1) and the filter maps.
void fill_maps(BpfPrograms& progs, const Config& config, const InterfaceTable& interfaces);

// outputs, plus the programs' flow map when they aggregate flows.
PipelineOutputs kernel_flow_outputs(const BpfPrograms& progs, PipelineOutputs outputs);
// Kernel flow aggregation: adds the kernel's share of the flow counters
// ("packets", "created") to the report's userspace "flows".
void add_kernel_flow_counts(const BpfPrograms& progs, const nlohmann::json& kernel, nlohmann::json& user);

// Returns the process exit code. Throws Error / ConfigInvalid on failure.
int run_daemon(const Config& config, const RunOptions& options);

}  // namespace sniffer
