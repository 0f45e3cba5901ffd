// Offline mode: every packet of the capture files (merged by timestamp into
// one stream, see capture_merge.hpp) goes through the same XDP program and
// the same Pipeline as live traffic, with the capture's timestamps. Training
// features and live features come from one code path. The program runs in
// the user engine (its C source compiled for userspace, user_engine.hpp) or,
// with --engine kernel, as the loaded program (BPF_PROG_TEST_RUN per packet,
// its records through the ring).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/capture_inputs.hpp"
#include "sniffer/config.hpp"
#include "sniffer/flow_labels.hpp"
#include "sniffer/sensor.hpp"

namespace sniffer {

struct OfflineOptions {
  std::vector<std::string> pcap_inputs;  // files, directories, patterns, "-" (see capture_inputs.hpp)
  InterfaceConfig interface;  // the interface (name, role, mode) the capture is attributed to
  std::string csv_path;       // non-empty: write flows here instead of publishing
  // The CSV past its first 8 MiB bypasses the page cache (OutputFile::bypass_page_cache):
  // not for a -j worker's part, which the table then reads back.
  bool csv_uncached = true;
  double wait_subscriber_s = 0;  // publishing: wait this long for subscribers first
  // --engine; unset: the user engine.
  std::optional<ReplayEngine> engine;
  bool progress = false;  // the progress bar on stderr even when it is not a terminal
  std::shared_ptr<const FlowLabels> labels;  // --labels, read and checked before any capture is opened
  // -j: the files split into this many groups, each run in its own process
  // (pcap_jobs.hpp); a worker (one of them) shows no bar and no summary.
  unsigned jobs = 1;
  bool worker = false;
  std::uint64_t first_flow_id = 1;
};

// Returns the exit code: 0, or 1 when a file could not be read to its end
// (everything read before the error, and the other files, are still
// processed and reported). Throws Error before reading anything when an
// input cannot be opened.
int run_offline(const Config& config, const OfflineOptions& options);

// run_offline on `files` as already resolved (options.pcap_inputs unused):
// a -j worker's file is the one its parent resolved, not a name resolved again.
int run_offline_files(const Config& config, const OfflineOptions& options, const std::vector<CaptureInput>& files);

}  // namespace sniffer
