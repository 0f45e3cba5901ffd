// Which of the sensor's IPv6 addresses were learned from the network (a
// lifetime, no IFA_F_PERMANENT): a block may cover those, exempting them
// (red team, round 18), while a configured address stays protected.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include "sniffer/sensor_addresses.hpp"

namespace sniffer {
namespace {

TEST(SensorAddresses, OnlyAddressesWithoutThePermanentFlagAreLearned) {
  // As /proc/net/if_inet6 prints them: a static address (0x80, nodad 0x02),
  // a link-local one (0x80), SLAAC from a router advertisement (0x00; its
  // mngtmpaddr flag 0x100 does not fit the column), DHCPv6 with a lifetime
  // (0x00), a tentative one (0x40), loopback.
  const std::string text =
      "20010db8010000000000000000000001 04 40 00 82     wan0\n"
      "fe8000000000000000fc00fffe000001 04 40 20 80     wan0\n"
      "20010db80bad00011c76abfffe14f141 04 40 00 00     wan0\n"
      "20010db8cafe00000000000000000099 04 80 00 00     wan0\n"
      "20010db8beef00000000000000000001 04 40 00 40     wan0\n"
      "00000000000000000000000000000001 01 80 10 80       lo\n"
      "not a line\n";
  const std::vector<Prefix> learned = learned_ipv6_addresses(text);
  ASSERT_EQ(learned.size(), 3u);
  EXPECT_EQ(learned[0].text(), "2001:db8:bad:1:1c76:abff:fe14:f141/128");
  EXPECT_EQ(learned[1].text(), "2001:db8:cafe::99/128");
  EXPECT_EQ(learned[2].text(), "2001:db8:beef::1/128");
  EXPECT_EQ(learned[0].family, AF_INET6);
}

}  // namespace
}  // namespace sniffer
