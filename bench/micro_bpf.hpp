// What bench/micro_bpf.cpp and micro_bpf_contend.cpp (--contend) share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "packet_builder.hpp"
#include "sniffer/bpf_loader.hpp"

namespace sniffer::bench {

constexpr std::uint32_t kLoopback = 1;  // PROG_TEST_RUN frames arrive on lo

// An IPv4/TCP frame of frame_len bytes (payload 'x'), 198.51.100.10:sport -> 192.0.2.10:443.
test::Bytes padded_tcp(std::size_t frame_len, std::uint16_t sport = 40000);
double median(std::vector<double> v);
// The daemon's flow parameters (config defaults) for kernel aggregation.
LoadOptions flow_options(std::uint32_t packet_sample);
// --contend: returns the exit status.
int run_contend(std::uint32_t repeat, std::uint32_t rounds);

}  // namespace sniffer::bench
