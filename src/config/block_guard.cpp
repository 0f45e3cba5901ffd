#include "sniffer/block_guard.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

constexpr std::array<std::uint8_t, 12> kMappedHead{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// An IPv4 prefix as its IPv4-mapped IPv6 form; IPv6 unchanged.
Prefix as_v6(const Prefix& p) {
  if (p.family != AF_INET) return p;
  Prefix v6;
  v6.family = AF_INET6;
  std::copy(kMappedHead.begin(), kMappedHead.end(), v6.addr.begin());
  std::copy(p.addr.begin(), p.addr.begin() + 4, v6.addr.begin() + 12);
  v6.length = static_cast<std::uint8_t>(96 + p.length);
  return v6;
}

constexpr const char* kWhy = " (blocks never cover the sensor's addresses, its control clients or blocklist.protected)";
constexpr const char* kWhyLink =
    " (blocks never cover the addresses a link's own control traffic uses: multicast, link-local, unspecified, "
    "limited broadcast)";

// Whatever the direction: a block on them cuts the sensor's management path
// (ff02::1:ff00:0/104 alone silences neighbour discovery to the sensor).
const std::vector<ProtectedPrefix>& network_control() {
  static const std::vector<ProtectedPrefix> ranges = [] {
    std::vector<ProtectedPrefix> out;
    for (const auto& [prefix, what] : std::initializer_list<std::pair<const char*, const char*>>{
             {"ff00::/8", "the IPv6 multicast range ff00::/8 (neighbour discovery, router advertisements, MLD)"},
             {"224.0.0.0/4", "the IPv4 multicast range 224.0.0.0/4 (routing protocols, VRRP, IGMP)"},
             {"fe80::/10", "the IPv6 link-local range fe80::/10 (routers' advertisements, neighbour discovery)"},
             {"169.254.0.0/16", "the IPv4 link-local range 169.254.0.0/16"},
             {"0.0.0.0/32", "the unspecified address 0.0.0.0 (the source of DHCP discovery)"},
             {"::/128", "the unspecified address :: (the source of duplicate address detection)"},
             {"255.255.255.255/32", "the limited broadcast 255.255.255.255 (DHCP)"}}) {
      out.push_back({Prefix::parse(prefix), RefusalReason::Protected, what});
    }
    return out;
  }();
  return ranges;
}

}  // namespace

const char* to_string(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::MinPrefix: return "min_prefix";
    case RefusalReason::SensorAddress: return "sensor_address";
    case RefusalReason::ControlClient: return "control_client";
    case RefusalReason::ControlEndpoint: return "control_endpoint";
    case RefusalReason::Protected: return "protected";
    case RefusalReason::Allowlist: return "allowlist";
  }
  return "unknown";
}

Prefix unmapped(const Prefix& p) {
  if (p.family != AF_INET6 || p.length < 96 || !std::equal(kMappedHead.begin(), kMappedHead.end(), p.addr.begin())) {
    return p;
  }
  Prefix v4;
  v4.family = AF_INET;
  std::copy(p.addr.begin() + 12, p.addr.end(), v4.addr.begin());
  v4.length = static_cast<std::uint8_t>(p.length - 96);
  return v4;
}

bool overlaps(const Prefix& a, const Prefix& b) {
  if (a.family == b.family) return a.contains(b) || b.contains(a);
  const Prefix x = as_v6(a), y = as_v6(b);
  return x.contains(y) || y.contains(x);
}

std::optional<Prefix> address_prefix(const std::string& text) {
  std::string addr = text;
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (auto zone = addr.find('%'); zone != std::string::npos) addr.resize(zone);  // fe80::1%eth0
  if (addr.empty() || addr.find('/') != std::string::npos) return std::nullopt;
  try {
    return unmapped(Prefix::parse(addr));
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<Prefix> endpoint_address(const std::string& endpoint) {
  const std::string scheme = "tcp://";
  if (endpoint.rfind(scheme, 0) != 0) return std::nullopt;
  std::string host = endpoint.substr(scheme.size());
  if (auto semicolon = host.find(';'); semicolon != std::string::npos) host = host.substr(semicolon + 1);
  auto colon = host.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  host.resize(colon);
  std::optional<Prefix> p = address_prefix(host);
  if (!p) return std::nullopt;
  const bool wildcard = std::all_of(p->addr.begin(), p->addr.end(), [](std::uint8_t b) { return b == 0; });
  return wildcard ? std::nullopt : p;
}

std::string display(const Prefix& p) {
  const std::string text = p.text();
  const unsigned host_len = p.family == AF_INET ? 32 : 128;
  return p.length == host_len ? text.substr(0, text.rfind('/')) : text;
}

void BlockGuard::set_protected(RefusalReason kind, std::vector<ProtectedPrefix> prefixes) {
  for (auto& p : prefixes) p.kind = kind;
  std::vector<ProtectedPrefix>* target = nullptr;
  switch (kind) {
    case RefusalReason::SensorAddress: target = &sensor_; break;
    case RefusalReason::ControlEndpoint: target = &endpoint_; break;
    case RefusalReason::Protected: target = &configured_; break;
    default: throw Error(std::string("BlockGuard::set_protected: not a settable kind: ") + to_string(kind));
  }
  const auto same_prefix = [](const ProtectedPrefix& a, const ProtectedPrefix& b) { return a.prefix == b.prefix; };
  if (!std::equal(target->begin(), target->end(), prefixes.begin(), prefixes.end(), same_prefix)) ++generation_;
  *target = std::move(prefixes);
}

void BlockGuard::add_control_client(const Prefix& address, const std::string& who) {
  const Prefix a = unmapped(address);
  auto it = std::find_if(clients_.begin(), clients_.end(), [&](const ProtectedPrefix& p) { return p.prefix == a; });
  if (it != clients_.end()) {
    it->what = "the address " + display(a) + " of control client " + who;  // the latest name it used
    return;
  }
  if (clients_.size() >= kMaxControlClients) clients_.pop_front();
  ++generation_;
  clients_.push_back({a, RefusalReason::ControlClient, "the address " + display(a) + " of control client " + who});
}

std::optional<BlockRefusal> BlockGuard::check(const Prefix& block, const std::vector<ProtectedPrefix>& extra,
                                              SensorAddresses sensor) const {
  const bool v4 = block.family == AF_INET;
  const unsigned min = v4 ? min_v4_ : min_v6_;
  if (block.length < min) {
    return BlockRefusal{RefusalReason::MinPrefix, std::string("blocklist.min_prefix_") + (v4 ? "v4" : "v6") + " is " +
                                                      std::to_string(min) + ": " + block.text() + " is broader"};
  }
  auto test = [&](const ProtectedPrefix& p, const char* why = kWhy) -> std::optional<BlockRefusal> {
    if (!overlaps(block, p.prefix)) return std::nullopt;
    const bool covers = as_v6(block).length <= as_v6(p.prefix).length;
    return BlockRefusal{p.kind, block.text() + (covers ? " would cover " : " is inside ") + p.what + why};
  };
  for (const auto* list : {&extra, &sensor_, &endpoint_, &configured_}) {
    if (list == &sensor_ && sensor == SensorAddresses::Exempted) continue;
    for (const ProtectedPrefix& p : *list) {
      if (auto refusal = test(p)) return refusal;
    }
  }
  for (const ProtectedPrefix& p : clients_) {
    if (auto refusal = test(p)) return refusal;
  }
  for (const ProtectedPrefix& p : network_control()) {
    if (auto refusal = test(p, kWhyLink)) return refusal;
  }
  return std::nullopt;
}

}  // namespace sniffer
