// Offline mode: every packet of a capture file goes through the same loaded
// XDP program (BPF_PROG_TEST_RUN), the same ring buffer and the same
// Pipeline as live traffic, with the capture's timestamps. Training
// features and live features come from one code path.
#pragma once

#include <string>

#include "sniffer/config.hpp"

namespace sniffer {

struct OfflineOptions {
  std::string pcap_path;
  InterfaceConfig interface;  // the interface (name, role, mode) the capture is attributed to
  std::string csv_path;       // non-empty: write flows here instead of publishing
  double wait_subscriber_s = 0;  // publishing: wait this long for subscribers first
};

// Returns the exit code: 0, or 1 when the file could not be read to its end
// (everything read before the error is still processed and reported).
int run_offline(const Config& config, const OfflineOptions& options);

}  // namespace sniffer
