// Prefix parsing: what the config and the control socket accept and refuse.
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "sniffer/error.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {
namespace {

std::string refusal(const std::string& text) {
  try {
    Prefix::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Prefix, ParsesBothFamiliesAndBareAddresses) {
  Prefix a = Prefix::parse("203.0.113.0/24");
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.length, 24);
  EXPECT_EQ(a.text(), "203.0.113.0/24");
  EXPECT_EQ(Prefix::parse("203.0.113.7").text(), "203.0.113.7/32");
  EXPECT_EQ(Prefix::parse("2001:db8::/32").text(), "2001:db8::/32");
  EXPECT_EQ(Prefix::parse("2001:db8::1").length, 128);
  EXPECT_EQ(Prefix::parse("0.0.0.0/0").length, 0);
}

TEST(Prefix, RefusalsNameTheTextAndTheReason) {
  EXPECT_NE(refusal("203.0.113.7/24").find("host bits set after /24"), std::string::npos);
  EXPECT_NE(refusal("203.0.113.0/33").find("length 33 > 32"), std::string::npos);
  EXPECT_NE(refusal("2001:db8::/129").find("length 129 > 128"), std::string::npos);
  EXPECT_NE(refusal("example.com").find("\"example.com\": not an IPv4 or IPv6 address"), std::string::npos);
  EXPECT_NE(refusal("10.0.0.0/").find("not a number"), std::string::npos);
  EXPECT_NE(refusal("10.0.0.0/-1").find("not a number"), std::string::npos);
  EXPECT_NE(refusal("").find("not an IPv4"), std::string::npos);
}

TEST(Prefix, ContainsComparesFamilyAndLeadingBits) {
  const Prefix net = Prefix::parse("10.1.0.0/16");
  EXPECT_TRUE(net.contains(Prefix::parse("10.1.2.3")));
  EXPECT_TRUE(net.contains(net));
  EXPECT_FALSE(net.contains(Prefix::parse("10.0.0.0/8")));  // wider
  EXPECT_FALSE(net.contains(Prefix::parse("10.2.0.1")));
  EXPECT_FALSE(Prefix::parse("::/0").contains(Prefix::parse("10.1.2.3")));  // other family
  EXPECT_TRUE(Prefix::parse("::/0").contains(Prefix::parse("2001:db8::1")));
}

TEST(Prefix, DirectionAndActionNames) {
  EXPECT_EQ(block_direction_from_string("dst"), BlockDirection::Destination);
  EXPECT_EQ(block_action_from_string("count"), BlockAction::Count);
  EXPECT_THROW(block_action_from_string("reject"), Error);
  EXPECT_STREQ(to_string(BlockDirection::Source), "src");
}

}  // namespace
}  // namespace sniffer
