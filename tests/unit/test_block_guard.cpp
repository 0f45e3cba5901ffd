// The blocklist guard: no block broader than the minimum prefix lengths, none
// overlapping a protected prefix (the sensor's addresses, the control
// endpoint, control clients, blocklist.protected), in both families.
#include <set>

#include <gtest/gtest.h>

#include "sniffer/block_guard.hpp"
#include "sniffer/config.hpp"

namespace sniffer {
namespace {

Prefix P(const char* text) { return Prefix::parse(text); }

ProtectedPrefix prot(const char* text, const std::string& what) {
  return {P(text), RefusalReason::Protected, what};
}

// The refusal's message ("" when accepted).
std::string refusal(const BlockGuard& g, const char* block, const std::vector<ProtectedPrefix>& extra = {}) {
  auto r = g.check(P(block), extra);
  return r ? r->message : "";
}

std::optional<RefusalReason> reason(const BlockGuard& g, const char* block,
                                    const std::vector<ProtectedPrefix>& extra = {}) {
  auto r = g.check(P(block), extra);
  return r ? std::optional(r->reason) : std::nullopt;
}

TEST(BlockGuard, DefaultsRefuseBlocksBroaderThanSlash16AndSlash32NamingTheKey) {
  BlockGuard g;
  EXPECT_EQ(g.min_prefix_v4(), 16u);
  EXPECT_EQ(g.min_prefix_v6(), 32u);
  EXPECT_EQ(refusal(g, "0.0.0.0/0"), "blocklist.min_prefix_v4 is 16: 0.0.0.0/0 is broader");
  EXPECT_EQ(refusal(g, "10.0.0.0/8"), "blocklist.min_prefix_v4 is 16: 10.0.0.0/8 is broader");
  EXPECT_EQ(refusal(g, "10.0.0.0/15"), "blocklist.min_prefix_v4 is 16: 10.0.0.0/15 is broader");
  EXPECT_EQ(refusal(g, "10.0.0.0/16"), "");  // exactly the minimum
  EXPECT_EQ(refusal(g, "203.0.113.7"), "");
  EXPECT_EQ(refusal(g, "::/0"), "blocklist.min_prefix_v6 is 32: ::/0 is broader");
  EXPECT_EQ(refusal(g, "2000::/3"), "blocklist.min_prefix_v6 is 32: 2000::/3 is broader");
  EXPECT_EQ(refusal(g, "2001:db8::/32"), "");
  EXPECT_EQ(reason(g, "::/0"), RefusalReason::MinPrefix);

  BlockGuard loose(0, 0);  // no minimum: only the protected prefixes limit blocks
  EXPECT_EQ(refusal(loose, "64.0.0.0/2"), "");  // (0.0.0.0/0 covers multicast, link-local: below)
  BlockGuard strict(24, 64);
  EXPECT_EQ(refusal(strict, "203.0.112.0/23"), "blocklist.min_prefix_v4 is 24: 203.0.112.0/23 is broader");
  EXPECT_EQ(refusal(strict, "2001:db8:1::/48"), "blocklist.min_prefix_v6 is 64: 2001:db8:1::/48 is broader");
}

TEST(BlockGuard, ASensorAddressIsNeverCoveredNotEvenByItsExactHostPrefix) {
  BlockGuard g(0, 0);
  g.set_protected(RefusalReason::SensorAddress, {{P("198.51.100.1"), {}, "the sensor's address 198.51.100.1"},
                                                 {P("2001:db8:100::1"), {}, "the sensor's address 2001:db8:100::1"}});
  EXPECT_EQ(refusal(g, "198.51.100.1"),
            "198.51.100.1/32 would cover the sensor's address 198.51.100.1 (blocks never cover the sensor's "
            "addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(reason(g, "198.51.100.0/24"), RefusalReason::SensorAddress);
  EXPECT_EQ(reason(g, "0.0.0.0/0"), RefusalReason::SensorAddress);
  EXPECT_EQ(reason(g, "2001:db8:100::1"), RefusalReason::SensorAddress);
  EXPECT_EQ(reason(g, "2001:db8::/32"), RefusalReason::SensorAddress);
  EXPECT_EQ(reason(g, "::/0"), RefusalReason::SensorAddress);
  // Neighbours are fine: the sensor's address is a /32 and a /128.
  EXPECT_EQ(refusal(g, "198.51.100.2"), "");
  EXPECT_EQ(refusal(g, "198.51.100.2/31"), "");
  EXPECT_EQ(refusal(g, "198.51.100.128/25"), "");
  EXPECT_EQ(refusal(g, "2001:db8:100::2"), "");
  EXPECT_EQ(refusal(g, "2001:db8:100::2/127"), "");
  // One family never protects the other.
  EXPECT_EQ(refusal(g, "2001:db8:200::/48"), "");
}

TEST(BlockGuard, AProtectedPrefixMayNeitherBeCoveredNorBeCutIntoInEitherFamily) {
  BlockGuard g;
  g.set_protected(RefusalReason::Protected,
                  {prot("10.20.30.0/24", "blocklist.protected[0] 10.20.30.0/24"),
                   prot("2001:db8:ffff::/48", "blocklist.protected[1] 2001:db8:ffff::/48")});
  // A protected /24 inside a broader block.
  EXPECT_EQ(refusal(g, "10.20.0.0/16"),
            "10.20.0.0/16 would cover blocklist.protected[0] 10.20.30.0/24 (blocks never cover the sensor's "
            "addresses, its control clients or blocklist.protected)");
  // The protected prefix itself, and a host inside it.
  EXPECT_EQ(reason(g, "10.20.30.0/24"), RefusalReason::Protected);
  EXPECT_EQ(refusal(g, "10.20.30.7"),
            "10.20.30.7/32 is inside blocklist.protected[0] 10.20.30.0/24 (blocks never cover the sensor's "
            "addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(refusal(g, "10.20.31.0/24"), "");  // the next /24
  EXPECT_EQ(refusal(g, "10.20.29.255"), "");
  EXPECT_EQ(reason(g, "2001:db8::/32"), RefusalReason::Protected);
  EXPECT_EQ(reason(g, "2001:db8:ffff:1::/64"), RefusalReason::Protected);
  EXPECT_EQ(refusal(g, "2001:db8:fffe::/48"), "");
}

TEST(BlockGuard, ControlClientsAreProtectedTheSenderFirst) {
  BlockGuard g;
  g.add_control_client(P("198.51.100.10"), "det-1");
  g.add_control_client(P("198.51.100.10"), "det-1 again");  // once per address
  ASSERT_EQ(g.control_clients().size(), 1u);
  EXPECT_EQ(refusal(g, "198.51.100.0/24"),
            "198.51.100.0/24 would cover the address 198.51.100.10 of control client det-1 again (blocks never cover "
            "the sensor's addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(reason(g, "198.51.100.10"), RefusalReason::ControlClient);
  EXPECT_EQ(refusal(g, "198.51.100.20"), "");  // an attacker next to the client

  // The command's sender is named first, even when another protection also applies.
  std::vector<ProtectedPrefix> sender{
      {P("203.0.113.5"), RefusalReason::ControlClient, "the address of this command's sender 203.0.113.5"}};
  EXPECT_EQ(refusal(g, "203.0.113.0/24", sender),
            "203.0.113.0/24 would cover the address of this command's sender 203.0.113.5 (blocks never cover the "
            "sensor's addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(reason(g, "203.0.113.5", sender), RefusalReason::ControlClient);

  // Bounded: the oldest address is forgotten beyond kMaxControlClients.
  for (std::size_t i = 0; i < kMaxControlClients; ++i) {
    Prefix p = P("10.200.0.0");
    p.addr[2] = static_cast<std::uint8_t>(i >> 8);
    p.addr[3] = static_cast<std::uint8_t>(i & 0xff);
    p.length = 32;
    g.add_control_client(p, "many");
  }
  EXPECT_EQ(g.control_clients().size(), kMaxControlClients);
  EXPECT_EQ(refusal(g, "198.51.100.10"), "");
  EXPECT_EQ(reason(g, "10.200.3.255"), RefusalReason::ControlClient);

  // A rebuilt guard (reload) keeps the clients seen.
  BlockGuard next(8, 8);
  next.take_control_clients(g);
  EXPECT_EQ(reason(next, "10.200.0.0/16"), RefusalReason::ControlClient);
}

TEST(BlockGuard, IPv4MappedAddressesProtectTheIPv4AddressAndItsMappedForm) {
  // A dual-stack control socket reports an IPv4 client as ::ffff:a.b.c.d.
  ASSERT_TRUE(address_prefix("::ffff:198.51.100.10"));
  EXPECT_EQ(address_prefix("::ffff:198.51.100.10")->text(), "198.51.100.10/32");
  EXPECT_EQ(unmapped(P("::ffff:198.51.100.0/120")).text(), "198.51.100.0/24");
  EXPECT_EQ(unmapped(P("::fffe:0:0/95")).text(), "::fffe:0:0/95");  // broader than the mapped range: unchanged
  EXPECT_EQ(unmapped(P("2001:db8::1")).text(), "2001:db8::1/128");

  BlockGuard g;
  g.add_control_client(*address_prefix("::ffff:198.51.100.10"), "dual-stack");
  EXPECT_EQ(reason(g, "198.51.100.0/24"), RefusalReason::ControlClient);
  // The mapped form of a protected IPv4 address is protected too.
  EXPECT_EQ(reason(g, "::ffff:198.51.100.10"), RefusalReason::ControlClient);
  EXPECT_EQ(reason(g, "::ffff:0:0/96"), RefusalReason::ControlClient);
  EXPECT_EQ(refusal(g, "::ffff:198.51.100.11"), "");
  EXPECT_TRUE(overlaps(P("::/32"), P("10.0.0.1")));  // ::ffff:0:0/96 lies inside ::/32
  EXPECT_FALSE(overlaps(P("2001:db8::/32"), P("10.0.0.1")));
}

// What a link's own control traffic uses is never blocked, whatever the
// direction: neighbour discovery and router advertisements (IPv6 multicast,
// link-local), routing protocols and VRRP (IPv4 multicast), DHCP (0.0.0.0,
// 255.255.255.255), duplicate address detection (::). Blocking
// ff02::1:ff00:0/104 alone cuts IPv6 to the sensor: its neighbours can no
// longer resolve it.
TEST(BlockGuard, NetworkControlAddressesAreNeverBlocked) {
  const BlockGuard g(0, 0);  // no minimum: the ranges alone refuse these
  const std::string why =
      " (blocks never cover the addresses a link's own control traffic uses: multicast, link-local, unspecified, "
      "limited broadcast)";
  const std::pair<const char*, const char*> refused[] = {
      {"ff02::1:ff00:0/104", "ff02::1:ff00:0/104 is inside the IPv6 multicast range ff00::/8 (neighbour discovery, "
                             "router advertisements, MLD)"},
      {"ff02::1", "ff02::1/128 is inside the IPv6 multicast range ff00::/8 (neighbour discovery, router "
                  "advertisements, MLD)"},
      {"224.0.0.0/16", "224.0.0.0/16 is inside the IPv4 multicast range 224.0.0.0/4 (routing protocols, VRRP, IGMP)"},
      {"fe80::1", "fe80::1/128 is inside the IPv6 link-local range fe80::/10 (routers' advertisements, neighbour "
                  "discovery)"},
      {"169.254.0.0/16", "169.254.0.0/16 would cover the IPv4 link-local range 169.254.0.0/16"},
      {"0.0.0.0/32", "0.0.0.0/32 would cover the unspecified address 0.0.0.0 (the source of DHCP discovery)"},
      {"::/128", "::/128 would cover the unspecified address :: (the source of duplicate address detection)"},
      {"255.255.255.255", "255.255.255.255/32 would cover the limited broadcast 255.255.255.255 (DHCP)"},
  };
  for (const auto& [block, message] : refused) EXPECT_EQ(refusal(g, block), message + why) << block;
  for (const char* block : {"ff00::/8", "ff02::/16", "ff05::1:3", "239.255.255.250", "224.0.0.18", "232.0.0.0/8",
                            "fe80::/64", "fe80::/10", "169.254.169.254", "::ffff:224.0.0.5", "0.0.0.0/0", "::/0",
                            "0.0.0.0/8", "::/96", "255.255.255.0/24", "::ffff:0.0.0.0"}) {
    EXPECT_EQ(reason(g, block), RefusalReason::Protected) << block;
  }
  // Ordinary blocks still pass, next to the ranges too.
  for (const char* block : {"203.0.113.0/24", "2001:db8:1:2::/64", "198.51.100.7", "2001:db8::dead",
                            "223.255.255.0/24", "240.0.0.0/24", "0.0.0.1", "::2", "169.253.255.255",
                            "fec0::/10", "feff::/16"}) {
    EXPECT_EQ(refusal(g, block), "") << block;
  }
}

TEST(BlockGuard, EndpointAddresses) {
  EXPECT_EQ(endpoint_address("tcp://198.51.100.1:5557")->text(), "198.51.100.1/32");
  EXPECT_EQ(endpoint_address("tcp://[2001:db8:100::1]:5557")->text(), "2001:db8:100::1/128");
  EXPECT_EQ(endpoint_address("tcp://[::ffff:198.51.100.1]:5557")->text(), "198.51.100.1/32");
  EXPECT_FALSE(endpoint_address("tcp://*:5557"));
  EXPECT_FALSE(endpoint_address("tcp://0.0.0.0:5557"));
  EXPECT_FALSE(endpoint_address("tcp://[::]:5557"));
  EXPECT_FALSE(endpoint_address("tcp://eth0:5557"));
  EXPECT_FALSE(endpoint_address("tcp://sensor.example:5557"));
  EXPECT_FALSE(endpoint_address("ipc:///run/sniffer/control.sock"));
  EXPECT_FALSE(endpoint_address(""));
  EXPECT_EQ(display(P("10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(display(P("10.0.0.0/8")), "10.0.0.0/8");
}

TEST(BlockGuard, TheConfigGuardHasTheKeysTheProtectedListAndTheControlEndpoint) {
  BlocklistConfig b;
  b.min_prefix_v4 = 20;
  b.min_prefix_v6 = 40;
  b.protected_prefixes = {P("10.20.30.0/24")};
  BlockGuard g = blocklist_guard(b, "tcp://192.0.2.1:5557");
  EXPECT_EQ(refusal(g, "10.0.0.0/19"), "blocklist.min_prefix_v4 is 20: 10.0.0.0/19 is broader");
  EXPECT_EQ(refusal(g, "10.20.16.0/20"),
            "10.20.16.0/20 would cover blocklist.protected[0] 10.20.30.0/24 (blocks never cover the sensor's "
            "addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(refusal(g, "192.0.2.1"),
            "192.0.2.1/32 would cover the control endpoint's address 192.0.2.1 (blocks never cover the sensor's "
            "addresses, its control clients or blocklist.protected)");
  EXPECT_EQ(reason(g, "192.0.2.0/24"), RefusalReason::ControlEndpoint);
  EXPECT_EQ(refusal(g, "192.0.2.2"), "");
}

TEST(BlockGuard, EveryReasonHasALabel) {
  std::set<std::string> labels;
  for (RefusalReason r : kRefusalReasons) labels.insert(to_string(r));
  EXPECT_EQ(labels, (std::set<std::string>{"min_prefix", "sensor_address", "control_client", "control_endpoint",
                                           "protected", "allowlist"}));
}

}  // namespace
}  // namespace sniffer
