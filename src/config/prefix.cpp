#include "sniffer/prefix.hpp"

#include <arpa/inet.h>

#include "sniffer/config_names.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

Prefix Prefix::parse(const std::string& text) {
  Prefix p;
  std::string addr = text;
  int length = -1;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    const std::string len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos) {
      throw Error("prefix \"" + text + "\": the length after '/' is not a number");
    }
    length = std::stoi(len);
  }
  if (inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
    p.family = AF_INET6;
  } else {
    throw Error("prefix \"" + text + "\": not an IPv4 or IPv6 address");
  }
  const int max = p.family == AF_INET ? 32 : 128;
  if (length > max) throw Error("prefix \"" + text + "\": length " + std::to_string(length) + " > " + std::to_string(max));
  p.length = static_cast<std::uint8_t>(length < 0 ? max : length);
  for (int bit = p.length; bit < max; ++bit) {
    if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
      throw Error("prefix \"" + text + "\": host bits set after /" + std::to_string(p.length));
    }
  }
  return p;
}

std::string Prefix::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(length);
}

bool Prefix::contains(const Prefix& other) const {
  if (family != other.family || length > other.length) return false;
  for (int bit = 0; bit < length; ++bit) {
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((addr[bit / 8] & mask) != (other.addr[bit / 8] & mask)) return false;
  }
  return true;
}

// to_string(BlockDirection), to_string(BlockAction): config_names.cpp.

BlockDirection block_direction_from_string(const std::string& s) {
  if (auto d = value_of(kBlockDirectionNames, s)) return *d;
  throw Error("direction \"" + s + "\": expected " + quoted_choices(kBlockDirectionNames));
}

BlockAction block_action_from_string(const std::string& s) {
  if (auto a = value_of(kBlockActionNames, s)) return *a;
  throw Error("action \"" + s + "\": expected " + quoted_choices(kBlockActionNames));
}

}  // namespace sniffer
