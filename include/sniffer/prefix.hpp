// IP prefixes and the blocklist's vocabulary, as the config and the control
// socket spell them.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>

namespace sniffer {

// An IPv4 or IPv6 prefix, host bits zero. "203.0.113.7" means /32.
struct Prefix {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};
  std::uint8_t length = 0;

  // Throws Error naming the text and the reason (bad address, length out of
  // range, host bits set).
  static Prefix parse(const std::string& text);
  std::string text() const;
  bool contains(const Prefix& other) const;
  auto operator<=>(const Prefix&) const = default;
};

enum class BlockDirection { Source, Destination };
enum class BlockAction { Drop, Count };

const char* to_string(BlockDirection d);
const char* to_string(BlockAction a);
BlockDirection block_direction_from_string(const std::string& s);  // throws Error
BlockAction block_action_from_string(const std::string& s);        // throws Error

}  // namespace sniffer
