// The FILTER of `sniffer capture`, from its text to the programs' filter
// (abi.h, struct sniffer_capture_filter). Terms, in any order:
//   host ADDR | net PREFIX   the first is side A, a second side B
//   port N                   the first is side A's port, a second side B's
//   proto tcp|udp|icmp|icmpv6|N
//   interface NAME           one monitored interface
// or one flow, both directions: "flow PROTO ADDR:PORT ADDR:PORT" (IPv6 as
// [ADDR]:PORT). A packet matches when A matches one end (its address and
// port) and B the other; an empty side matches anything, an empty filter
// every packet. "net 10.0.0.0/8 port 53" is then "10/8 port 53 at one end",
// "host 10.0.0.1 host 10.0.0.2" the traffic between the two.
#pragma once

#include <string>

#include "sniffer/abi.h"
#include "sniffer/interfaces.hpp"

namespace sniffer {

// Throws Error naming the term at fault. `interfaces` resolves "interface".
sniffer_capture_filter parse_capture_filter(const std::string& text, const InterfaceTable& interfaces);

}  // namespace sniffer
