// Logging to stderr, as text or as one JSON object per line (for journald
// or log shippers that parse JSON).
#pragma once

#include <string>

namespace sniffer {

// level: trace..error; verbosity: -v count (1: debug, 2: trace).
void setup_logging(const std::string& level, int verbosity, bool json);

}  // namespace sniffer
