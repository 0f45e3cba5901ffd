// Parsing the kernel's rtnetlink link and address messages (LinkMonitor).
#include <gtest/gtest.h>

#include <net/if.h>
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <string>
#include <vector>

#include "sniffer/link_monitor.hpp"

namespace sniffer {
namespace {

// Builds netlink messages the way the kernel lays them out (NLMSG_ALIGN, RTA_ALIGN).
class Buffer {
 public:
  // An RTM_NEWLINK or RTM_DELLINK with IFLA_IFNAME and (if operstate >= 0) IFLA_OPERSTATE.
  Buffer& link(std::uint16_t type, int ifindex, unsigned flags, const std::string& name, int operstate = -1) {
    std::size_t start = begin(type);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    ifi.ifi_flags = flags;
    append(&ifi, sizeof(ifi));
    if (!name.empty()) attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
    if (operstate >= 0) {
      std::uint8_t s = static_cast<std::uint8_t>(operstate);
      attr(IFLA_OPERSTATE, &s, 1);
    }
    end(start);
    return *this;
  }
  Buffer& other(std::uint16_t type, std::size_t payload) {
    std::size_t start = begin(type);
    std::vector<char> zeros(payload);
    append(zeros.data(), zeros.size());
    end(start);
    return *this;
  }
  const char* data() const { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }
  std::vector<char>& bytes() { return bytes_; }

 private:
  std::size_t begin(std::uint16_t type) {
    std::size_t start = bytes_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    append(&h, sizeof(h));
    return start;
  }
  void end(std::size_t start) {
    auto* h = reinterpret_cast<nlmsghdr*>(bytes_.data() + start);
    h->nlmsg_len = static_cast<std::uint32_t>(bytes_.size() - start);
    bytes_.resize(start + NLMSG_ALIGN(h->nlmsg_len));
  }
  void attr(std::uint16_t type, const void* payload, std::size_t n) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<unsigned short>(RTA_LENGTH(n));
    append(&a, sizeof(a));
    append(payload, n);
    bytes_.resize(bytes_.size() + (RTA_ALIGN(a.rta_len) - a.rta_len));
  }
  void append(const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    bytes_.insert(bytes_.end(), c, c + n);
  }
  std::vector<char> bytes_;
};

LinkChanges parse(const Buffer& b) {
  LinkChanges out;
  parse_netlink_messages(b.data(), b.size(), out);
  return out;
}

TEST(LinkMonitor, NewLinkCarriesNameIndexFlagsAndOperstate) {
  Buffer b;
  b.link(RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING | IFF_BROADCAST, "wan0", IF_OPER_UP);
  LinkChanges c = parse(b);
  ASSERT_EQ(c.links.size(), 1u);
  const LinkEvent& e = c.links[0];
  EXPECT_EQ(e.kind, LinkEvent::Kind::NewOrChanged);
  EXPECT_EQ(e.ifindex, 7u);
  EXPECT_EQ(e.name, "wan0");
  EXPECT_EQ(e.operstate, IF_OPER_UP);
  EXPECT_TRUE(e.admin_up());
  EXPECT_TRUE(e.link_up());
  EXPECT_FALSE(c.addresses_changed);
  EXPECT_FALSE(c.overrun);
}

TEST(LinkMonitor, UpWithoutCarrierIsNotUp) {
  Buffer b;
  b.link(RTM_NEWLINK, 3, IFF_UP, "lan0", IF_OPER_LOWERLAYERDOWN).link(RTM_NEWLINK, 3, 0, "lan0", IF_OPER_DOWN);
  LinkChanges c = parse(b);
  ASSERT_EQ(c.links.size(), 2u);
  EXPECT_TRUE(c.links[0].admin_up());
  EXPECT_FALSE(c.links[0].link_up());
  EXPECT_STREQ(operstate_name(c.links[0].operstate), "lowerlayerdown");
  EXPECT_FALSE(c.links[1].admin_up());
  EXPECT_STREQ(operstate_name(c.links[1].operstate), "down");
}

TEST(LinkMonitor, SeveralMessagesInOrderWithAddressesAndOthers) {
  Buffer b;
  b.link(RTM_NEWLINK, 4, 0, "wan0", IF_OPER_DOWN)
      .other(RTM_NEWADDR, sizeof(ifaddrmsg) + 8)
      .other(RTM_NEWROUTE, sizeof(rtmsg))
      .link(RTM_DELLINK, 4, 0, "wan0")
      .link(RTM_NEWLINK, 9, 0, "wan0");
  LinkChanges c = parse(b);
  ASSERT_EQ(c.links.size(), 3u);
  EXPECT_EQ(c.links[0].kind, LinkEvent::Kind::NewOrChanged);
  EXPECT_EQ(c.links[1].kind, LinkEvent::Kind::Deleted);
  EXPECT_EQ(c.links[1].ifindex, 4u);
  EXPECT_EQ(c.links[2].ifindex, 9u);
  EXPECT_EQ(c.links[2].operstate, IF_OPER_UNKNOWN);  // no IFLA_OPERSTATE
  EXPECT_TRUE(c.addresses_changed);

  LinkChanges d;
  Buffer del;
  del.other(RTM_DELADDR, sizeof(ifaddrmsg));
  parse_netlink_messages(del.data(), del.size(), d);
  EXPECT_TRUE(d.links.empty());
  EXPECT_TRUE(d.addresses_changed);
}

TEST(LinkMonitor, NameWithoutTerminatorIsBounded) {
  Buffer b;
  b.link(RTM_NEWLINK, 2, IFF_UP, "");
  // An IFLA_IFNAME of 4 bytes without a NUL, at the end of the message.
  auto& bytes = b.bytes();
  rtattr a{};
  a.rta_type = IFLA_IFNAME;
  a.rta_len = RTA_LENGTH(4);
  const char* raw = reinterpret_cast<const char*>(&a);
  bytes.insert(bytes.end(), raw, raw + sizeof(a));
  bytes.insert(bytes.end(), {'e', 't', 'h', '9'});
  reinterpret_cast<nlmsghdr*>(bytes.data())->nlmsg_len = static_cast<std::uint32_t>(bytes.size());
  LinkChanges c = parse(b);
  ASSERT_EQ(c.links.size(), 1u);
  EXPECT_EQ(c.links[0].name, "eth9");
}

TEST(LinkMonitor, TruncatedAndMalformedMessagesAreSkipped) {
  Buffer b;
  b.link(RTM_NEWLINK, 5, IFF_UP, "wan0", IF_OPER_UP);
  LinkChanges c;
  for (std::size_t n = 0; n < b.size(); ++n) {  // every truncation: no crash, no event from a partial message
    c = {};
    parse_netlink_messages(b.data(), n, c);
    EXPECT_TRUE(c.links.empty()) << n;
  }
  // A header too short for an ifinfomsg.
  Buffer s;
  s.other(RTM_NEWLINK, 4);
  c = {};
  parse_netlink_messages(s.data(), s.size(), c);
  EXPECT_TRUE(c.links.empty());
  // An ifindex of 0 is not an interface.
  Buffer z;
  z.link(RTM_NEWLINK, 0, IFF_UP, "x");
  c = {};
  parse_netlink_messages(z.data(), z.size(), c);
  EXPECT_TRUE(c.links.empty());
  // An attribute whose length runs past the message ends the walk there.
  Buffer r;
  r.link(RTM_NEWLINK, 6, IFF_UP, "wan0");
  auto* attr = reinterpret_cast<rtattr*>(r.bytes().data() + NLMSG_LENGTH(sizeof(ifinfomsg)));
  attr->rta_len = 200;
  c = {};
  parse_netlink_messages(r.data(), r.size(), c);
  ASSERT_EQ(c.links.size(), 1u);
  EXPECT_EQ(c.links[0].name, "");
}

TEST(LinkMonitor, QueryLinkFindsLoopbackAndNotAMissingName) {
  auto lo = query_link("lo");
  ASSERT_TRUE(lo.has_value());
  EXPECT_GT(lo->ifindex, 0u);
  EXPECT_EQ(lo->name, "lo");
  EXPECT_FALSE(query_link("snf-no-such-if").has_value());
}

TEST(LinkMonitor, OpensWithoutPrivilegesAndPollsEmpty) {
  LinkMonitor m;
  LinkChanges c = m.poll();  // nothing changed since it opened (usually): never blocks either way
  EXPECT_FALSE(c.overrun);
  EXPECT_EQ(m.overruns(), 0u);
}

}  // namespace
}  // namespace sniffer
