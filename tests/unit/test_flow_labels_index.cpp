// --labels matching through the rule index (FlowLabels::label_of) against its
// model, the plain scan of every rule in file order ("first matching rule
// wins"): identical labels over many random rule sets (IPv4 and IPv6 prefixes
// of every length, nested and overlapping, ports, protocols, windows, either
// direction) and random flows drawn near the rules' addresses.
#include <arpa/inet.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/flow_labels.hpp"

namespace sniffer::test {
namespace {

// ---- the model: every rule in turn ---------------------------------------------

bool model_within(const std::optional<Prefix>& prefix, const Prefix& host) {
  return !prefix || prefix->contains(host);
}

bool model_ends(const LabelRule& r, const Prefix& src, std::uint32_t sport, const Prefix& dst, std::uint32_t dport) {
  return model_within(r.src, src) && model_within(r.dst, dst) && r.src_port.contains(sport) &&
         r.dst_port.contains(dport);
}

Prefix model_host(const std::string& bytes) {
  Prefix host;
  if (bytes.size() != 4 && bytes.size() != 16) return host;
  host.family = bytes.size() == 4 ? AF_INET : AF_INET6;
  host.length = static_cast<std::uint8_t>(bytes.size() * 8);
  std::copy(bytes.begin(), bytes.end(), host.addr.begin());
  return host;
}

// The number of the first rule the flow matches; rules.size() for none.
std::size_t model_first(const std::vector<LabelRule>& rules, const v1::FlowRecord& f, std::size_t from = 0) {
  const Prefix src = model_host(f.src_addr()), dst = model_host(f.dst_addr());
  for (std::size_t i = from; i < rules.size(); ++i) {
    const LabelRule& r = rules[i];
    if (f.start_ns() < r.start_ns || f.start_ns() >= r.end_ns) continue;
    if (r.protocol && *r.protocol != f.l4_protocol()) continue;
    if (model_ends(r, src, f.src_port(), dst, f.dst_port()) ||
        (r.direction == LabelDirection::Either && model_ends(r, dst, f.dst_port(), src, f.src_port()))) {
      return i;
    }
  }
  return rules.size();
}

// ---- random rules and flows ----------------------------------------------------

// Addresses near a few seeds per family, so that prefixes of every length
// nest, overlap and hold the flows' addresses (or just miss them).
class World {
 public:
  explicit World(std::uint64_t seed) : rng_(seed) {
    for (int i = 0; i < 4; ++i) {
      seeds4_.push_back(random_bytes(4));
      seeds6_.push_back(random_bytes(16));
    }
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }

  // A seed with some of its last bits changed, and now and then one bit anywhere.
  std::string address(int family) {
    std::string a = family == AF_INET ? seeds4_[pick(4)] : seeds6_[pick(4)];
    const int bits = static_cast<int>(a.size()) * 8;
    for (int k = pick(10); k > 0; --k) flip(a, bits - 1 - pick(10));
    if (chance(15)) flip(a, pick(bits));
    return a;
  }

  Prefix prefix(int family) {
    Prefix p;
    p.family = family;
    const std::string a = address(family);
    std::copy(a.begin(), a.end(), p.addr.begin());
    const int bits = static_cast<int>(a.size()) * 8;
    p.length = static_cast<std::uint8_t>(chance(60) ? bits - pick(12) : pick(bits + 1));
    for (int b = p.length; b < bits; ++b) p.addr[b / 8] &= static_cast<std::uint8_t>(~(0x80 >> (b % 8)));
    return p;
  }

  std::uint16_t port() {
    static constexpr std::uint16_t kPorts[] = {0, 53, 80, 443, 1024, 8080, 65535};
    return kPorts[pick(7)];
  }

  PortRange port_range() {
    if (chance(50)) return {};
    const std::uint16_t a = port(), b = chance(50) ? a : port();
    return {std::min(a, b), std::max(a, b)};
  }

  std::uint8_t protocol() {
    static constexpr std::uint8_t kProtocols[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6};
    return kProtocols[pick(4)];
  }

  LabelRule rule(std::size_t number) {
    LabelRule r;
    const int family = chance(50) ? AF_INET : AF_INET6;
    if (chance(70)) r.src = prefix(family);
    if (chance(70)) r.dst = prefix(family);
    r.src_port = port_range();
    r.dst_port = port_range();
    if (chance(40)) r.protocol = protocol();
    if (chance(40)) {
      r.start_ns = static_cast<std::uint64_t>(pick(10));
      r.end_ns = r.start_ns + 1 + static_cast<std::uint64_t>(pick(5));
    }
    r.direction = chance(50) ? LabelDirection::Either : LabelDirection::Forward;
    r.label = "rule" + std::to_string(number);
    return r;
  }

  v1::FlowRecord flow() {
    v1::FlowRecord f;
    const int family = chance(50) ? AF_INET : AF_INET6;
    if (!chance(3)) {  // now and then no addresses: matched only by rules without one
      f.set_src_addr(address(family));
      f.set_dst_addr(address(family));
    }
    f.set_src_port(chance(20) ? static_cast<std::uint32_t>(pick(65536)) : port());
    f.set_dst_port(chance(20) ? static_cast<std::uint32_t>(pick(65536)) : port());
    f.set_l4_protocol(protocol());
    f.set_start_ns(static_cast<std::uint64_t>(pick(16)));
    return f;
  }

 private:
  std::string random_bytes(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(pick(256)));
    return s;
  }
  static void flip(std::string& a, int bit) { a[bit / 8] = static_cast<char>(a[bit / 8] ^ (0x80 >> (bit % 8))); }

  std::mt19937_64 rng_;
  std::vector<std::string> seeds4_, seeds6_;
};

// A host rule no drawn flow is near (198.18.0.0/15): never a candidate.
LabelRule unrelated_host(std::size_t number) {
  LabelRule r;
  r.dst = Prefix::parse("198.18." + std::to_string(number / 256 % 256) + "." + std::to_string(number % 256));
  r.label = "pad" + std::to_string(number);
  return r;
}

// A rule without an address, of one port (dst or src, either direction or
// not), seldom a drawn flow's: filed by port, a candidate now and then.
LabelRule port_only(std::size_t number) {
  LabelRule r;
  const auto port = static_cast<std::uint16_t>(20000 + number * 7919 % 30000);
  (number % 3 ? r.dst_port : r.src_port) = {port, port};
  r.direction = number % 2 ? LabelDirection::Either : LabelDirection::Forward;
  r.label = "port" + std::to_string(number);
  return r;
}

// Random rule sets, each rule followed by `padding` unrelated rules (`pad`):
// with padding the candidates are a few of many rules, so the index merges its
// lists; without, most rules are candidates of a flow and it tries them all.
void expect_labels_of_a_plain_scan(int padding, LabelRule (*pad)(std::size_t) = unrelated_host) {
  std::size_t flows = 0, matched = 0, overlapped = 0, reversed = 0;
  for (std::uint64_t set = 0; set < 400; ++set) {
    World world(set);
    std::vector<LabelRule> rules;
    const int count = 1 + world.pick(set % 4 == 0 ? 400 : 40);
    for (int i = 0; i < count; ++i) {
      rules.push_back(world.rule(rules.size()));
      for (int k = 0; k < padding; ++k) rules.push_back(pad(rules.size()));
    }
    const FlowLabels labels(rules);
    for (int n = 0; n < 300; ++n) {
      const v1::FlowRecord f = world.flow();
      const std::size_t first = model_first(rules, f);
      const std::string expected = first < rules.size() ? rules[first].label : kDefaultLabel;
      ASSERT_EQ(labels.label_of(f), expected) << "rule set " << set << ", flow " << f.ShortDebugString();
      ++flows;
      if (first == rules.size()) continue;
      ++matched;
      if (model_first(rules, f, first + 1) < rules.size()) ++overlapped;  // order decides
      LabelRule forward = rules[first];
      forward.direction = LabelDirection::Forward;
      if (model_first({forward}, f) == 1) ++reversed;  // matched the other way round only
    }
  }
  // The draw is such that the cases the index must get right happen often.
  EXPECT_GT(matched, flows / 3) << matched << " of " << flows;
  EXPECT_GT(overlapped, flows / 5) << overlapped << " of " << flows;
  EXPECT_GT(reversed, flows / 30) << reversed << " of " << flows;
}

TEST(FlowLabelsIndex, LabelsAreTheFirstMatchingRulesOfAPlainScan) { expect_labels_of_a_plain_scan(0); }

TEST(FlowLabelsIndex, LabelsAreTheFirstMatchingRulesOfAPlainScanAmongManyOthers) {
  expect_labels_of_a_plain_scan(6);
}

// Among many rules without an address, filed by port (red team R17-7: they
// were all checked for every flow).
TEST(FlowLabelsIndex, LabelsAreTheFirstMatchingRulesOfAPlainScanAmongManyPortRules) {
  expect_labels_of_a_plain_scan(6, port_only);
}

// 100,000 rules of one port each and no address (red team R17-7: every one
// was checked for every flow): a flow is checked against those of its ports.
TEST(FlowLabelsIndex, PortRulesAreCandidatesOfTheirPortsOnly) {
  std::vector<LabelRule> rules;
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    LabelRule r;
    const auto port = static_cast<std::uint16_t>(2 + i % 60000);
    (i % 2 ? r.dst_port : r.src_port) = {port, port};
    r.direction = i % 4 < 2 ? LabelDirection::Either : LabelDirection::Forward;
    r.label = "p" + std::to_string(i);
    rules.push_back(std::move(r));
  }
  const LabelRuleIndex index(rules);
  const Prefix host = Prefix::parse("192.0.2.1");
  std::size_t tried = 0;
  const auto none = [&](std::uint32_t) { return ++tried, false; };
  EXPECT_EQ(index.first(host, host, 60500, 61000, none), UINT32_MAX);  // no rule of these ports
  EXPECT_EQ(tried, 0u);
  // Port 7 at either end: the rules of port 7 (i = 5, 60005) filed for that end, each either way.
  EXPECT_EQ(index.first(host, host, 7, 61000, none), UINT32_MAX);
  EXPECT_LE(tried, 2u);
  tried = 0;
  EXPECT_EQ(index.first(host, host, 61000, 7, [&](std::uint32_t n) { return ++tried, n == 60005; }), 60005u);
  EXPECT_LE(tried, 2u);
}

// Port rules of every kind on the ports the flows use: file order decides
// between them and the address rules, either way round.
TEST(FlowLabelsIndex, PortRulesKeepTheirPlaceInFileOrder) {
  for (std::uint64_t set = 0; set < 200; ++set) {
    World world(1000 + set);
    std::vector<LabelRule> rules;
    for (int i = 0; i < 60; ++i) {
      LabelRule r = world.rule(rules.size());
      if (world.chance(60)) {  // no address, one port or two
        r.src.reset();
        r.dst.reset();
        const std::uint16_t port = world.port();
        (world.chance(50) ? r.dst_port : r.src_port) = {port, port};
      }
      rules.push_back(std::move(r));
    }
    const FlowLabels labels(rules);
    for (int n = 0; n < 300; ++n) {
      const v1::FlowRecord f = world.flow();
      const std::size_t first = model_first(rules, f);
      ASSERT_EQ(labels.label_of(f), first < rules.size() ? rules[first].label : kDefaultLabel)
          << "rule set " << set << ", flow " << f.ShortDebugString();
    }
  }
}

// Thousands of rules under one prefix (the random sets rarely file more than
// a few together): within it, file order still decides.
TEST(FlowLabelsIndex, RulesOfOneAddressKeepTheirFileOrder) {
  std::vector<LabelRule> rules;
  for (std::uint16_t i = 0; i < 3000; ++i) {
    LabelRule r;
    r.src = Prefix::parse(std::string(i % 3 ? "192.168.0.0/24" : "2001:db8::/32"));
    r.dst_port = {static_cast<std::uint16_t>(i / 3), static_cast<std::uint16_t>(i / 3 + 50)};
    r.direction = i % 2 ? LabelDirection::Either : LabelDirection::Forward;
    r.label = "r" + std::to_string(i);
    rules.push_back(std::move(r));
  }
  const FlowLabels labels(rules);
  v1::FlowRecord f;
  const std::uint32_t a = htonl(0xc0a80007u), b = htonl(0x0a000001u);
  f.set_src_addr(std::string(reinterpret_cast<const char*>(&a), 4));
  f.set_dst_addr(std::string(reinterpret_cast<const char*>(&b), 4));
  for (std::uint32_t port = 0; port < 1100; ++port) {
    f.set_dst_port(port);
    // The first IPv4 rule whose range holds the port (up to 51 of them do).
    const std::uint32_t low = port < 50 ? 0 : port - 50;
    const std::string expected = low < 1000 ? "r" + std::to_string(3 * low + 1) : kDefaultLabel;
    ASSERT_EQ(labels.label_of(f), expected) << "port " << port;
  }
}

// Many host rules, the labelled data sets' shape (one per attacking host).
TEST(FlowLabelsIndex, ManyHostRulesEachLabelTheirOwnFlows) {
  std::vector<LabelRule> rules;
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    LabelRule r;
    r.dst = Prefix::parse("10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
                          std::to_string(i & 255));
    r.dst_port = {1, 1};
    r.direction = i % 2 ? LabelDirection::Either : LabelDirection::Forward;
    r.label = "x" + std::to_string(i);
    rules.push_back(std::move(r));
  }
  rules.push_back({.dst = Prefix::parse("10.0.0.0/8"), .label = "net"});
  const FlowLabels labels(rules);
  auto flow = [](std::uint32_t host, std::uint32_t port, bool reverse) {
    v1::FlowRecord f;
    const std::uint32_t a = htonl(0x0a000000u | host), b = htonl(0xc0a80001u);
    const std::string victim(reinterpret_cast<const char*>(&a), 4), other(reinterpret_cast<const char*>(&b), 4);
    f.set_src_addr(reverse ? victim : other);
    f.set_dst_addr(reverse ? other : victim);
    f.set_src_port(reverse ? port : 40000);
    f.set_dst_port(reverse ? 40000 : port);
    return f;
  };
  for (std::uint32_t i = 0; i < 100'000; i += 997) {
    EXPECT_EQ(labels.label_of(flow(i, 1, false)), "x" + std::to_string(i));
    EXPECT_EQ(labels.label_of(flow(i, 2, false)), "net");
    EXPECT_EQ(labels.label_of(flow(i, 1, true)), i % 2 ? "x" + std::to_string(i) : kDefaultLabel);
  }
}

}  // namespace
}  // namespace sniffer::test
