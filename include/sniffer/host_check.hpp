// sniffer --check: diagnoses the host for the given config and prints a
// table. Returns the exit code: 0, or 1 when a problem blocks running.
#pragma once

#include "sniffer/config.hpp"

namespace sniffer {

int run_host_check(const Config& config);

}  // namespace sniffer
