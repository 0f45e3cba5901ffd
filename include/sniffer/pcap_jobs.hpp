// --read-pcap -j N: captures the user says are unrelated. Each file is its
// own stream (its own clock, flows ids from i x 10^12 + 1 for the i-th file),
// as if run alone; N worker processes (forks, before anything is loaded) share
// the files out by size. Then one table and one report: the files' parts
// concatenated in their order under one header, the counters summed.
#pragma once

#include <string>
#include <vector>

#include "sniffer/config.hpp"
#include "sniffer/pcap_replay.hpp"

namespace sniffer {

// Exit code as run_offline's. Throws Error (standard input, a worker that
// failed: its files named) before writing the table.
int run_offline_jobs(const Config& config, const OfflineOptions& options, const std::vector<CaptureInput>& files);

}  // namespace sniffer
