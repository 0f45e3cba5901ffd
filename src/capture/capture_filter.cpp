#include "sniffer/capture_filter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <sstream>
#include <vector>

#include "sniffer/error.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {

namespace {

std::uint32_t parse_number(const std::string& text, std::uint32_t max, const std::string& what) {
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) {
    throw Error("capture filter: " + what + " \"" + text + "\": a number 0.." + std::to_string(max));
  }
  return v;
}

std::uint8_t parse_proto(const std::string& text) {
  if (text == "tcp") return IPPROTO_TCP;
  if (text == "udp") return IPPROTO_UDP;
  if (text == "icmp") return IPPROTO_ICMP;
  if (text == "icmpv6") return IPPROTO_ICMPV6;
  return static_cast<std::uint8_t>(parse_number(text, 255, "proto"));
}

std::uint16_t parse_port(const std::string& text) {
  const std::uint32_t port = parse_number(text, 65535, "port");
  if (port == 0) throw Error("capture filter: port 0 matches nothing; leave the port out to match any");
  return static_cast<std::uint16_t>(port);
}

// Sets a side's prefix; the filter's IP version follows (and must agree).
void set_prefix(sniffer_capture_filter& f, sniffer_capture_side& side, const Prefix& p) {
  const std::uint8_t version = p.family == AF_INET ? 4 : 6;
  if (f.ip_version && f.ip_version != version) throw Error("capture filter: IPv4 and IPv6 prefixes together");
  f.ip_version = version;
  std::memcpy(side.addr, p.addr.data(), 16);
  for (int bit = 0; bit < p.length; ++bit) side.mask[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
}

// "10.0.0.1:80" or "[2001:db8::1]:80" as one flow end.
void set_endpoint(sniffer_capture_filter& f, sniffer_capture_side& side, const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw Error("capture filter: flow end \"" + text + "\": ADDR:PORT");
  std::string addr = text.substr(0, colon);
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  const Prefix p = Prefix::parse(addr);
  if (p.length != (p.family == AF_INET ? 32 : 128)) throw Error("capture filter: flow end \"" + text + "\": an address");
  set_prefix(f, side, p);
  side.port = parse_port(text.substr(colon + 1));
}

std::uint32_t interface_index(const std::string& name, const InterfaceTable& interfaces) {
  for (const auto& [ifindex, info] : interfaces) {
    if (info.name == name) return ifindex;
  }
  throw Error("capture filter: interface \"" + name + "\" is not monitored");
}

}  // namespace

sniffer_capture_filter parse_capture_filter(const std::string& text, const InterfaceTable& interfaces) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  sniffer_capture_filter f{};
  if (!words.empty() && words[0] == "flow") {
    if (words.size() != 4) throw Error("capture filter: \"flow PROTO ADDR:PORT ADDR:PORT\"");
    f.l4_proto = parse_proto(words[1]);
    set_endpoint(f, f.a, words[2]);
    set_endpoint(f, f.b, words[3]);
    return f;
  }
  int prefixes = 0, ports = 0;
  for (std::size_t i = 0; i < words.size(); i += 2) {
    const std::string& term = words[i];
    if (i + 1 >= words.size()) throw Error("capture filter: \"" + term + "\" without its value");
    const std::string& value = words[i + 1];
    if (term == "host" || term == "net") {
      if (prefixes == 2) throw Error("capture filter: at most two host/net terms (one per end)");
      set_prefix(f, prefixes++ == 0 ? f.a : f.b, Prefix::parse(value));
    } else if (term == "port") {
      if (ports == 2) throw Error("capture filter: at most two port terms (one per end)");
      (ports++ == 0 ? f.a : f.b).port = parse_port(value);
    } else if (term == "proto") {
      f.l4_proto = parse_proto(value);
    } else if (term == "interface") {
      f.ifindex = interface_index(value, interfaces);
    } else {
      throw Error("capture filter: unknown term \"" + term + "\" (host, net, port, proto, interface or flow)");
    }
  }
  return f;
}

}  // namespace sniffer
