// bench/micro_bpf --workers: the packet-record program's cost per packet with
// capture.workers 1 against 2 (the ring chosen per flow by a hash and an
// array-of-rings lookup, bpf/record.bpf.h events_ring), on one CPU and on two.
#pragma once

#include <cstdint>

namespace sniffer::bench {

// Prints the table; 0 when every record reached a ring and was consumed.
int run_workers(std::uint32_t repeat, std::uint32_t rounds);

}  // namespace sniffer::bench
