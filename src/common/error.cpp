#include "sniffer/error.hpp"

#include <cstring>

namespace sniffer {

std::string errno_text(int err) {
  if (err < 0) err = -err;
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

}  // namespace sniffer
