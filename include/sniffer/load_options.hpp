// The programs' parameters from the config: what BpfPrograms is loaded with
// (sizes, rodata constants, the flow parameters) and the ports whose packets
// always yield a record. The one place a config knob turns into them.
#pragma once

#include <cstdint>
#include <vector>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"

namespace sniffer {

// The programs' load-time settings from the config.
LoadOptions load_options(const Config& config);

// Kernel flow aggregation with packet events: flows.packet_ports (else none).
std::vector<std::uint16_t> record_ports(const Config& config);

}  // namespace sniffer
