// The process's limit on open descriptors, which bounds what it may hold at
// once (capture files merged, connections accepted).
#pragma once

#include <cstddef>

namespace sniffer {

// The soft limit on open files, raised to the hard one first (a shell's
// default 1024 is not what the sensor should be bounded by; the unit sets
// LimitNOFILE). SIZE_MAX when unlimited; 1024 when it cannot be read.
std::size_t raised_open_files_limit();

}  // namespace sniffer
