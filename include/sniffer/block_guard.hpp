// The blocklist's guard: what a block may never cover, and how broad a block
// may be. A blocking sensor must not be turned against the network it sits in,
// nor against its operators: one authorized command blocking 0.0.0.0/0 from
// the WAN side would drop the WAN and the command's own reply (and every later
// "del"). So every entry, wherever it comes from (static entries at start and
// at reload, control commands), is checked here before it reaches the
// kernel's tries:
//   - its prefix length is at least blocklist.min_prefix_v4 / _v6;
//   - it overlaps (contains, or lies inside) none of the protected prefixes:
//     the sensor's own addresses, the control endpoint's address, the address
//     of every control client seen so far (and of the command's sender), and
//     blocklist.protected (the management networks);
//   - it overlaps none of the ranges a link's own control traffic uses, in
//     either direction: multicast (ff00::/8, 224.0.0.0/4), link-local
//     (fe80::/10, 169.254.0.0/16), the unspecified addresses 0.0.0.0 and ::
//     (the sources of DHCP discovery and duplicate address detection) and
//     255.255.255.255 (refused as "protected").
// Pure logic (no kernel, no sockets): unit-tested in tests/unit/test_block_guard.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/prefix.hpp"

namespace sniffer {

// Why a block was refused: the "reason" label of sniffer_blocklist_refused_total.
enum class RefusalReason { MinPrefix, SensorAddress, ControlClient, ControlEndpoint, Protected, Allowlist };
inline constexpr std::array kRefusalReasons{RefusalReason::MinPrefix,       RefusalReason::SensorAddress,
                                            RefusalReason::ControlClient,   RefusalReason::ControlEndpoint,
                                            RefusalReason::Protected,       RefusalReason::Allowlist};
// "min_prefix", "sensor_address", "control_client", "control_endpoint", "protected", "allowlist"
const char* to_string(RefusalReason reason);

// Defaults of blocklist.min_prefix_v4 and _v6. IPv4 /16: 65,536 addresses,
// the largest network a single organisation commonly holds; a broader block
// (a /8, 0.0.0.0/0) is a whole carrier or the whole Internet, never one
// attacker. IPv6 /32: the smallest allocation a registry makes to a provider
// (RIPE/ARIN policy); a site is a /48, a LAN a /64, so a /32 already blocks a
// whole ISP and anything broader (::/0, 2000::/3) covers many.
inline constexpr unsigned kDefaultMinPrefixV4 = 16;
inline constexpr unsigned kDefaultMinPrefixV6 = 32;
// Control clients remembered (distinct addresses); beyond, the oldest is forgotten.
inline constexpr std::size_t kMaxControlClients = 1024;

// One prefix no block may overlap, and what it is ("the sensor's address",
// "blocklist.protected[0]", ...), for the refusal message.
struct ProtectedPrefix {
  Prefix prefix;
  RefusalReason kind = RefusalReason::Protected;
  std::string what;
};

struct BlockRefusal {
  RefusalReason reason = RefusalReason::MinPrefix;
  std::string message;
};

// ::ffff:a.b.c.d/n (n >= 96) as a.b.c.d/(n - 96); any other prefix unchanged.
// A dual-stack socket reports an IPv4 peer this way; its packets are IPv4.
Prefix unmapped(const Prefix& p);
// True when a and b share an address: one contains the other (prefixes never
// partly overlap). An IPv4 prefix also overlaps the IPv4-mapped IPv6 form of
// itself (::ffff:0:0/96 and inside it).
bool overlaps(const Prefix& a, const Prefix& b);
// An address as a prefix: "198.51.100.10" (/32), "2001:db8::1" (/128),
// "::ffff:198.51.100.10" (as IPv4), "[2001:db8::1]" (brackets of an
// endpoint); nullopt when it is not an IP address.
std::optional<Prefix> address_prefix(const std::string& text);
// The address a ZeroMQ endpoint binds when it is a literal IP address:
// "tcp://198.51.100.1:5557" -> 198.51.100.1/32. nullopt for ipc://, inproc://,
// a wildcard (tcp://*:5557, 0.0.0.0, [::]), an interface or a host name (the
// sensor's own addresses cover those).
std::optional<Prefix> endpoint_address(const std::string& endpoint);
// "198.51.100.1" for a host prefix, "10.0.0.0/8" otherwise.
std::string display(const Prefix& p);

// How a check treats the sensor's own addresses. Refused: a block over one is
// refused (a command). Exempted: not a reason (an entry already in place, or
// the config's): the address is carved out of the entry instead, since the
// host's addresses change without the operator (DHCP, a router advertisement
// any link peer may send; red team, round 17), see Blocklist::sync_exemptions.
enum class SensorAddresses { Refused, Exempted };

class BlockGuard {
 public:
  BlockGuard() = default;
  BlockGuard(unsigned min_prefix_v4, unsigned min_prefix_v6) : min_v4_(min_prefix_v4), min_v6_(min_prefix_v6) {}

  unsigned min_prefix_v4() const { return min_v4_; }
  unsigned min_prefix_v6() const { return min_v6_; }

  // Replaces every protected prefix of `kind` (the sensor's addresses after a
  // refresh, blocklist.protected after a reload). Not for ControlClient.
  void set_protected(RefusalReason kind, std::vector<ProtectedPrefix> prefixes);
  // Remembers the address of a control client (idempotent; `who` names it in
  // refusals). At most kMaxControlClients addresses: the oldest is forgotten.
  void add_control_client(const Prefix& address, const std::string& who);
  // The control clients remembered, oldest first.
  const std::deque<ProtectedPrefix>& control_clients() const { return clients_; }
  // Keeps the control clients of `other` (a guard rebuilt at reload).
  void take_control_clients(const BlockGuard& other) { clients_ = other.clients_; }

  // nullopt when `block` may enter the blocklist; else the first rule it
  // breaks. `extra` is checked first (the sender of the command at hand).
  std::optional<BlockRefusal> check(const Prefix& block, const std::vector<ProtectedPrefix>& extra = {},
                                    SensorAddresses sensor = SensorAddresses::Refused) const;
  // Grows each time the guard may refuse more (a protected prefix set that
  // changed, a new control client): an entry it passed before stays passed
  // while this stays the same.
  std::uint64_t generation() const { return generation_; }

 private:
  unsigned min_v4_ = kDefaultMinPrefixV4, min_v6_ = kDefaultMinPrefixV6;
  std::vector<ProtectedPrefix> sensor_, endpoint_, configured_;
  std::deque<ProtectedPrefix> clients_;
  std::uint64_t generation_ = 0;
};

}  // namespace sniffer
