// The key of a prefix in the blocklist's LPM tries, as the kernel reads it:
// its length, then the address bytes (blocklist.cpp, blocklist_exemptions.cpp).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "sniffer/abi.h"
#include "sniffer/prefix.hpp"

namespace sniffer {

struct LpmKey {
  std::array<std::uint8_t, sizeof(sniffer_lpm_v6)> bytes{};
  explicit LpmKey(const Prefix& p) {
    const __u32 len = p.length;
    std::memcpy(bytes.data(), &len, sizeof(len));
    std::memcpy(bytes.data() + sizeof(len), p.addr.data(), p.family == AF_INET ? 4 : 16);
  }
  const void* data() const { return bytes.data(); }
};

}  // namespace sniffer
