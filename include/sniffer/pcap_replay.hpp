// Offline mode: every packet of the capture files (merged by timestamp into
// one stream, see capture_merge.hpp) goes through the same loaded
// XDP program (BPF_PROG_TEST_RUN), the same ring buffer and the same
// Pipeline as live traffic, with the capture's timestamps. Training
// features and live features come from one code path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sniffer/config.hpp"
#include "sniffer/flow_labels.hpp"

namespace sniffer {

struct OfflineOptions {
  std::vector<std::string> pcap_inputs;  // files, directories, patterns, "-" (see capture_inputs.hpp)
  InterfaceConfig interface;  // the interface (name, role, mode) the capture is attributed to
  std::string csv_path;       // non-empty: write flows here instead of publishing
  double wait_subscriber_s = 0;  // publishing: wait this long for subscribers first
  std::shared_ptr<const FlowLabels> labels;  // --labels, read and checked before any capture is opened
};

// Returns the exit code: 0, or 1 when a file could not be read to its end
// (everything read before the error, and the other files, are still
// processed and reported). Throws Error before reading anything when an
// input cannot be opened.
int run_offline(const Config& config, const OfflineOptions& options);

}  // namespace sniffer
