// ip_to_chars must write exactly what inet_ntop writes (the CSV's address
// columns and Flow ID depend on it): crafted edge cases and random addresses
// rich in zero groups, compared with glibc.
#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "sniffer/ip_text.hpp"

namespace sniffer {
namespace {

std::string ours(const std::uint8_t* a, std::size_t len) {
  char buf[kIpTextMax];
  return std::string(buf, ip_to_chars(buf, a, len));
}

std::string theirs(const std::uint8_t* a, std::size_t len) {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(len == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf) ? buf : "(error)";
}

std::array<std::uint8_t, 16> v6(const char* text) {
  std::array<std::uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

TEST(IpText, EdgeCasesAsInetNtop) {
  for (const char* text : {"::", "::1", "::2", "1::", "1::1", "::ffff:1.2.3.4", "::1.2.3.4", "::ffff:0:1.2.3.4",
                           "::0.0.0.2", "::ffff:0.0.0.0", "1:0:0:2:0:0:0:3", "1:0:0:2:0:0:3:4", "1:0:2:0:3:0:4:0",
                           "0:1:0:0:0:0:0:0", "fe80::1:2:3:4", "2001:db8::ff00:42:8329", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                           "0:0:0:0:0:1:0:0", "64:ff9b::1.2.3.4", "::ffff:1:2", "::fffe:1.2.3.4", "0:0:1::"}) {
    const auto a = v6(text);
    EXPECT_EQ(ours(a.data(), 16), theirs(a.data(), 16)) << text;
  }
  const std::uint8_t v4[][4] = {{0, 0, 0, 0}, {255, 255, 255, 255}, {10, 0, 100, 9}, {1, 22, 133, 4}};
  for (const auto& a : v4) EXPECT_EQ(ours(a, 4), theirs(a, 4));
  const std::uint8_t none[2] = {1, 2};
  EXPECT_EQ(ours(none, 2), "");
}

TEST(IpText, RandomAddressesAsInetNtop) {
  std::mt19937_64 rng(14);
  for (int n = 0; n < 200'000; ++n) {
    std::uint8_t a[16];
    for (int w = 0; w < 8; ++w) {
      const std::uint64_t r = rng();
      // Mostly zero or small groups: runs of zeros and their ties are what can go wrong.
      const std::uint16_t v = r % 2 ? 0 : r % 5 == 0 ? 0xffff : r % 3 ? static_cast<std::uint16_t>(r >> 8) : 1;
      a[2 * w] = static_cast<std::uint8_t>(v >> 8);
      a[2 * w + 1] = static_cast<std::uint8_t>(v);
    }
    ASSERT_EQ(ours(a, 16), theirs(a, 16)) << n;
    ASSERT_EQ(ours(a, 4), theirs(a, 4)) << n;
  }
}

}  // namespace
}  // namespace sniffer
