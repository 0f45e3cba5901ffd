// IP addresses as text without going through sprintf: the exact text glibc's
// inet_ntop writes (dotted quad; RFC 5952 style IPv6 with its longest run of
// zero groups, the first of equal runs, as "::", and the IPv4-mapped and
// -compatible forms), at a fraction of its cost: a CSV row carries two.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sniffer {

// Enough for any address and its terminating NUL (INET6_ADDRSTRLEN).
inline constexpr std::size_t kIpTextMax = 46;

// Writes the address of `len` bytes (4 or 16) at `out` (kIpTextMax bytes of
// room); returns the end of the text (no NUL). Any other length writes nothing.
char* ip_to_chars(char* out, const std::uint8_t* addr, std::size_t len);

}  // namespace sniffer
