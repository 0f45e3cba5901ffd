// Errors that carry their context: what failed, on which object, and why.
#pragma once

#include <stdexcept>
#include <string>

namespace sniffer {

// A failure the daemon reports as one line and exits non-zero on.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "No such device (errno 19)" for a positive or negative errno value.
std::string errno_text(int err);

}  // namespace sniffer
