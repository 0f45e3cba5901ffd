// bpf tier, blocklist (prevention): verdicts of the LPM tries and the
// allowlist, monitor-only, expiry, records of dropped packets, and the
// guard in Blocklist::add, the one way into the tries.
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "log_capture.hpp"
#include "programs_fixture.hpp"
#include "sniffer/blocklist.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer::test {
namespace {

constexpr int kXdpUdp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);

BlockRule rule(const char* prefix, BlockAction action = BlockAction::Drop,
               BlockDirection direction = BlockDirection::Source, std::uint64_t expires_mono_ns = 0) {
  BlockRule r;
  r.prefix = Prefix::parse(prefix);
  r.action = action;
  r.direction = direction;
  r.expires_mono_ns = expires_mono_ns;
  r.reason = "test";
  r.origin = "test";
  return r;
}

Bytes udp_from(const char* src, const char* dst = "192.0.2.10") {
  return Frame{}.ipv4({.src = src, .dst = dst}).udp({.sport = 4000, .dport = 53});
}
Bytes udp6_from(const char* src) {
  return Frame{}.ipv6({.src = src, .dst = "2001:db8:200::10"}).udp({.sport = 1, .dport = 2});
}

// The record of a packet with this verdict (and, when given, rule).
RecordFields with_verdict(std::uint8_t verdict, std::optional<std::uint64_t> rule_id = std::nullopt) {
  return RecordFields{.block_rule_id = rule_id, .verdict = verdict};
}
const RecordFields kPassed = with_verdict(SNIFFER_VERDICT_PASS, 0);
const RecordFields kBlocked = with_verdict(SNIFFER_VERDICT_BLOCKED);
const RecordFields kMonitored = with_verdict(SNIFFER_VERDICT_MONITORED);
const CounterDeltas kDropCounted{{SNIFFER_STAT_BLOCKED, 1}, {kXdpUdp, 1} /* still counted */};
const CounterDeltas kAllowCounted{{SNIFFER_STAT_ALLOWED, 1}, {SNIFFER_STAT_BLOCKED, 0}};

TEST_F(ProgramsTest, BlockedSourcesAreDroppedCountedAndRecorded) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  const BlockRule r = bl.add(rule("198.51.100.0/24"));
  check({
      // record_dropped is on by default.
      {.description = "inside the /24", .frame = udp_from("198.51.100.10"), .verdict = kXdpDrop,
       .record = with_verdict(SNIFFER_VERDICT_BLOCKED, r.id), .counters = kDropCounted},
      {.description = "inside the /24, its end", .frame = udp_from("198.51.100.250"), .verdict = kXdpDrop,
       .record = kBlocked, .counters = kDropCounted},
      {.description = "outside the /24", .frame = udp_from("198.51.101.1"), .record = kPassed,
       .counters = {{SNIFFER_STAT_BLOCKED, 0}, {kXdpUdp, 1}}},
  });
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 2u);
  EXPECT_EQ(stat(kXdpUdp), 3u);
  ASSERT_EQ(bl.list().size(), 1u);
  EXPECT_EQ(bl.list()[0].hits, 2u);
}

TEST_F(ProgramsTest, AllowlistWinsOverACoveringBlock) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_allowlist({Prefix::parse("198.51.100.10"), Prefix::parse("2001:db8:bad::5"), Prefix::parse("192.0.2.99")});
  // No block entry yet: the programs skip every lookup (the allowlist is not even consulted).
  check(Row{.description = "allowlisted, no block entry", .frame = udp_from("198.51.100.10"), .record = kPassed,
            .counters = {{SNIFFER_STAT_ALLOWED, 0}}});
  bl.add(rule("198.51.100.0/24"));
  bl.add(rule("2001:db8:bad::/48"));
  check({
      {.description = "allowlisted source", .frame = udp_from("198.51.100.10"), .record = kPassed,
       .counters = kAllowCounted},
      {.description = "blocked source", .frame = udp_from("198.51.100.11"), .verdict = kXdpDrop, .record = kBlocked},
      {.description = "blocked source to an allowlisted address", .frame = udp_from("198.51.100.11", "192.0.2.99"),
       .record = kPassed, .counters = kAllowCounted},
      {.description = "IPv6 allowlisted source", .frame = udp6_from("2001:db8:bad::5"), .record = kPassed,
       .counters = kAllowCounted},
      {.description = "IPv6 blocked source", .frame = udp6_from("2001:db8:bad::6"), .verdict = kXdpDrop,
       .record = kBlocked, .counters = {{SNIFFER_STAT_BLOCKED, 1}}},
      {.description = "IPv6 outside the /48", .frame = udp6_from("2001:db8:bae::1"), .record = kPassed},
  });
  EXPECT_EQ(stat(SNIFFER_STAT_ALLOWED), 3u);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 2u);
  EXPECT_EQ(bl.allowlist_hits(), 3u);

  // A block the allowlist covers entirely would never apply: refused.
  try {
    bl.add(rule("198.51.100.10/32"));
    FAIL() << "a prefix inside the allowlist was accepted";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused);
  }
}

TEST_F(ProgramsTest, CountOnlyEntriesAndMonitorOnlyPass) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.0/24", BlockAction::Count));
  bl.add(rule("203.0.113.0/24", BlockAction::Drop));
  check(Row{.description = "a count entry", .frame = udp_from("198.51.100.10"), .record = kMonitored,
            .counters = {{SNIFFER_STAT_BLOCK_MONITORED, 1}}});
  bl.set_settings(true, true);  // monitor only: the drop entry counts, passes
  check(Row{.description = "a drop entry, monitor only", .frame = udp_from("203.0.113.7"), .record = kMonitored,
            .counters = {{SNIFFER_STAT_BLOCK_MONITORED, 1}, {SNIFFER_STAT_BLOCKED, 0}}});
  bl.set_settings(false, true);
  check(Row{.description = "a drop entry", .frame = udp_from("203.0.113.7"), .verdict = kXdpDrop,
            .record = kBlocked, .counters = {{SNIFFER_STAT_BLOCKED, 1}}});
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCK_MONITORED), 2u);
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 1u);
}

TEST_F(ProgramsTest, DestinationRulesExpiryAndInterfacesWithoutBlocklist) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("192.0.2.66/32", BlockAction::Drop, BlockDirection::Destination));
  check({
      {.description = "to a blocked destination", .frame = udp_from("198.51.100.1", "192.0.2.66"),
       .verdict = kXdpDrop, .record = kBlocked},
      {.description = "the destination as a source: not blocked", .frame = udp_from("192.0.2.66", "198.51.100.1"),
       .record = kPassed},
  });

  // An entry past its expiry is ignored by the kernel at once, and the
  // daemon's sweep removes it.
  const std::uint64_t now = monotonic_now_ns();
  bl.add(rule("198.51.100.0/24", BlockAction::Drop, BlockDirection::Source, now + 200'000'000));
  check(Row{.description = "before expiry", .frame = udp_from("198.51.100.1"), .verdict = kXdpDrop,
            .record = kBlocked});
  usleep(250'000);
  check(Row{.description = "after expiry", .frame = udp_from("198.51.100.1"), .record = kPassed});
  auto gone = bl.expire(monotonic_now_ns());
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].prefix.text(), "198.51.100.0/24");
  EXPECT_EQ(gone[0].hits, 1u);
  EXPECT_EQ(bl.size(), 1u);

  // The same entries do nothing on an interface without the blocklist.
  configure(Mode::Gateway, Role::Lan, 1, false);
  check(Row{.description = "no blocklist on the interface", .frame = udp_from("198.51.100.1", "192.0.2.66"),
            .record = kPassed});
}

TEST_F(ProgramsTest, DroppedPacketsWithoutRecordsKeepTheIdentity) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_settings(false, false);  // no records for dropped packets
  bl.add(rule("198.51.100.0/24"));
  for (int i = 0; i < 3; ++i)
    check(Row{.description = "dropped, unrecorded", .frame = udp_from("198.51.100.10"), .verdict = kXdpDrop,
              .counters = {{SNIFFER_STAT_BLOCKED_UNRECORDED, 1}, {SNIFFER_STAT_RECORDS, 0}}});
  check(Row{.description = "passed", .frame = udp_from("203.0.113.1"), .record = kPassed});
  const KernelStats t = progs_->read_stats();
  EXPECT_EQ(t[SNIFFER_STAT_BLOCKED_UNRECORDED], 3u);
  // packets = records + ring full + filtered + blocked unrecorded
  EXPECT_EQ(t[kXdpUdp], t[SNIFFER_STAT_RECORDS] + t[SNIFFER_STAT_RINGBUF_FULL] + t[SNIFFER_STAT_FILTERED] +
                            t[SNIFFER_STAT_BLOCKED_UNRECORDED]);
}

TEST_F(ProgramsTest, TcIngressShotsBlockedPacketsEgressNeverBlocks) {
  load();
  configure(Mode::HostBased, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.0/24"));
  check({
      {.description = "TC ingress", .frame = udp_from("198.51.100.10"), .verdict = kTcShot, .record = kBlocked,
       .counters = {{SNIFFER_STAT_BLOCKED, 1}}, .hook = Hook::TcIngress},
      {.description = "TC egress", .frame = udp_from("198.51.100.10"), .verdict = kTcContinue, .record = kPassed,
       .counters = {{SNIFFER_STAT_BLOCKED, 0}}, .hook = Hook::TcEgress},
  });
  EXPECT_EQ(stat(SNIFFER_STAT_BLOCKED), 1u);
}

TEST_F(ProgramsTest, AFullBlocklistIsAnErrorNotASilentFailure) {
  load({.blocklist_max_entries = 2});
  Blocklist bl(*progs_);
  bl.add(rule("198.51.100.1"));
  bl.add(rule("198.51.100.2"));
  try {
    bl.add(rule("198.51.100.3"));
    FAIL() << "a third entry fit in a trie of 2";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Full);
    EXPECT_NE(std::string(e.what()).find("blocklist.max_entries"), std::string::npos) << e.what();
  }
  EXPECT_EQ(bl.size(), 2u);
  bl.add(rule("198.51.100.2"));  // replacing an entry fits
  bl.add(rule("2001:db8::1"));   // the IPv6 trie has its own room
}

// The sensor's exemptions have room of their own beyond blocklist.max_entries:
// a link peer's router advertisements must not take the slots the rules need,
// nor leave the block over the sensor's address in place because its trie is
// full (red team, round 18). One beyond that room is tried again at every
// sweep and said once, not once a second for as long as it fails.
TEST_F(ProgramsTest, TheSensorsExemptionsHaveRoomOfTheirOwnAndOneThatDoesNotFitIsSaidOnce) {
  load({.blocklist_max_entries = 2});
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  std::vector<Prefix> addresses{Prefix::parse("192.0.2.10")};
  bl.set_host_addresses_source([&] { return addresses; });
  bl.set_guard(blocklist_guard(BlocklistConfig{}, ""));
  bl.add(rule("203.0.113.0/24"));
  bl.add(rule("198.51.100.7"));
  addresses.push_back(Prefix::parse("203.0.113.1"));
  bl.refresh_host_addresses();
  EXPECT_EQ(bl.sync_exemptions().added.size(), 1u) << "a full blocklist has room for the sensor's address";
  check(Row{.description = "exempted", .frame = udp_from("203.0.113.1"), .record = kPassed});
  try {
    bl.add(rule("198.51.100.8"));
    ADD_FAILURE() << "a third rule fit in a blocklist of 2";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Full) << "the exemptions' room is not the rules'";
  }

  for (unsigned i = 2; i < 2 + kBlockExemptionRoom; ++i) {  // one more than the room
    addresses.push_back(Prefix::parse("203.0.113." + std::to_string(i)));
  }
  bl.refresh_host_addresses();
  LogCapture log;
  EXPECT_EQ(bl.sync_exemptions().added.size(), kBlockExemptionRoom - 1);
  for (int sweep = 0; sweep < 5; ++sweep) EXPECT_TRUE(bl.sync_exemptions().added.empty()) << sweep;
  const std::string said = log.take();
  EXPECT_NE(said.find("blocklist: exempt the sensor's address 203.0.113.65 (src): "), std::string::npos) << said;
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;
  EXPECT_EQ(bl.exemptions(), kBlockExemptionRoom);

  addresses.erase(addresses.begin() + 1);  // 203.0.113.1 goes: room for the last one
  bl.refresh_host_addresses();
  const Blocklist::ExemptionChange change = bl.sync_exemptions();
  EXPECT_EQ(change.added.size(), 1u);
  EXPECT_EQ(change.removed.size(), 1u);
  check({
      {.description = "exempted once it fits", .frame = udp_from("203.0.113.65"), .record = kPassed},
      {.description = "no longer the sensor's", .frame = udp_from("203.0.113.1"), .verdict = kXdpDrop,
       .record = kBlocked},
  });
}

// The guard sits in Blocklist::add itself, the one way into the tries: a
// refused prefix never reaches the kernel (packets keep passing), whoever asks.
TEST_F(ProgramsTest, TheGuardKeepsLockoutBlocksOutOfTheKernelAndCountsThem) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_host_addresses_source([] { return std::vector<Prefix>{Prefix::parse("192.0.2.10")}; });
  BlocklistConfig config;
  config.protected_prefixes = {Prefix::parse("203.0.113.0/24")};
  bl.set_guard(blocklist_guard(config, ""));
  auto refused = [&](const char* prefix, RefusalReason reason, const std::vector<ProtectedPrefix>& extra = {}) {
    try {
      bl.add(rule(prefix), extra);
      ADD_FAILURE() << prefix << " was accepted";
    } catch (const BlocklistError& e) {
      EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused) << prefix;
      EXPECT_EQ(e.reason(), reason) << prefix << ": " << e.what();
    }
  };
  refused("0.0.0.0/0", RefusalReason::MinPrefix);
  refused("::/0", RefusalReason::MinPrefix);
  refused("192.0.2.0/24", RefusalReason::SensorAddress);  // the sensor's address as a destination
  refused("203.0.113.128/25", RefusalReason::Protected);
  refused("198.51.100.0/24", RefusalReason::ControlClient,
          {{Prefix::parse("198.51.100.10"), RefusalReason::ControlClient, "this command's sender"}});
  EXPECT_EQ(bl.size(), 0u);
  check({
      {.description = "nothing reached the tries", .frame = udp_from("198.51.100.10"), .record = kPassed,
       .counters = {{SNIFFER_STAT_BLOCKED, 0}}},
      {.description = "nor the sensor's address", .frame = udp_from("198.51.100.11", "192.0.2.10"),
       .record = kPassed, .counters = {{SNIFFER_STAT_BLOCKED, 0}}},
  });

  // Static entries pass the same guard.
  BlockRule whole = rule("0.0.0.0/0");
  EXPECT_THROW(bl.set_static({whole}), BlocklistError);
  EXPECT_EQ(bl.size(), 0u);

  // A legitimate block still drops.
  bl.add(rule("198.51.100.11"));
  check({
      {.description = "a legitimate block", .frame = udp_from("198.51.100.11"), .verdict = kXdpDrop,
       .record = kBlocked},
      {.description = "beside it", .frame = udp_from("198.51.100.10"), .record = kPassed},
  });

  auto counts = bl.refused();
  EXPECT_EQ(counts[RefusalReason::MinPrefix], 3u);
  EXPECT_EQ(counts[RefusalReason::SensorAddress], 1u);
  EXPECT_EQ(counts[RefusalReason::Protected], 1u);
  EXPECT_EQ(counts[RefusalReason::ControlClient], 1u);
  EXPECT_EQ(counts[RefusalReason::Allowlist], 0u);

  // A reload that protects more revokes the control entries it now covers.
  config.protected_prefixes.push_back(Prefix::parse("198.51.100.0/24"));
  bl.set_guard(blocklist_guard(config, ""));
  auto gone = bl.revoke_refused();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].prefix.text(), "198.51.100.11/32");
  check(Row{.description = "revoked", .frame = udp_from("198.51.100.11"), .record = kPassed});
}

// The host's addresses change without the operator: a DHCP lease, or a
// router advertisement any link peer may send, puts one inside a block. The
// block stays and still drops everything else; only the sensor's own address
// is exempted, in that direction, while it has it (red team, round 17: the
// whole static entry was suspended, and a control entry removed for good).
TEST_F(ProgramsTest, AnAddressTheSensorGainsInsideABlockIsExemptedTheBlockStays) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  std::vector<Prefix> addresses{Prefix::parse("192.0.2.10")};
  bl.set_host_addresses_source([&] { return addresses; });
  bl.set_guard(blocklist_guard(BlocklistConfig{}, ""));
  BlockRule whole = rule("203.0.113.0/24"), exact = rule("203.0.113.1");
  whole.origin = "config blocklist.entries[0]";
  exact.origin = "config blocklist.entries[1]";
  bl.set_static({whole, exact});
  const BlockRule control = bl.add(rule("198.51.100.0/24", BlockAction::Drop, BlockDirection::Destination));
  check({
      {.description = "static, before", .frame = udp_from("203.0.113.1"), .verdict = kXdpDrop, .record = kBlocked},
      {.description = "control, before", .frame = udp_from("192.0.2.7", "198.51.100.1"), .verdict = kXdpDrop,
       .record = kBlocked},
  });

  addresses.push_back(Prefix::parse("203.0.113.1"));   // as a DHCP lease would
  addresses.push_back(Prefix::parse("198.51.100.1"));  // as SLAAC would
  bl.refresh_host_addresses();
  EXPECT_TRUE(bl.revoke_refused().empty()) << "an address the sensor gained removes no control entry";
  Blocklist::ExemptionChange change = bl.sync_exemptions();
  ASSERT_EQ(change.added.size(), 2u);
  EXPECT_TRUE(change.removed.empty());
  EXPECT_EQ(bl.exemptions(), 2u);
  EXPECT_EQ(bl.size(), 3u) << "every entry stays";
  ASSERT_EQ(bl.covering({Prefix::parse("203.0.113.1"), BlockDirection::Source}).size(), 2u);
  check({
      {.description = "the sensor's new address as a source", .frame = udp_from("203.0.113.1"), .record = kPassed},
      {.description = "the rest of the static entry", .frame = udp_from("203.0.113.5"), .verdict = kXdpDrop,
       .record = kBlocked},
      {.description = "to the sensor's new address", .frame = udp_from("192.0.2.7", "198.51.100.1"),
       .record = kPassed},
      {.description = "the rest of the control entry", .frame = udp_from("192.0.2.7", "198.51.100.2"),
       .verdict = kXdpDrop, .record = with_verdict(SNIFFER_VERDICT_BLOCKED, control.id)},
      {.description = "the exemption is of its direction only", .frame = udp_from("198.51.100.1", "192.0.2.7"),
       .record = kPassed},
  });
  EXPECT_TRUE(bl.sync_exemptions().added.empty()) << "nothing changed, nothing to do";

  addresses.resize(1);  // the lease and the prefix go
  bl.refresh_host_addresses();
  change = bl.sync_exemptions();
  EXPECT_EQ(change.removed.size(), 2u);
  EXPECT_EQ(bl.exemptions(), 0u);
  std::uint32_t exact_id = 0;
  for (const BlockRule& r : bl.list()) exact_id = r.prefix == exact.prefix ? r.id : exact_id;
  check({
      {.description = "the exact static entry is back", .frame = udp_from("203.0.113.1"), .verdict = kXdpDrop,
       .record = with_verdict(SNIFFER_VERDICT_BLOCKED, exact_id)},
      {.description = "the control entry applies to it again", .frame = udp_from("192.0.2.7", "198.51.100.1"),
       .verdict = kXdpDrop, .record = kBlocked},
  });
}

// A control client may not lift, shorten or relabel the operator's static
// entries (red team, round 17): only the config and a reload change them.
TEST_F(ProgramsTest, ACommandCannotRemoveOrReplaceAStaticEntry) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  BlockRule whole = rule("203.0.113.0/24");
  whole.origin = "config blocklist.entries[0]";
  bl.set_static({whole});
  try {
    bl.remove(Prefix::parse("203.0.113.0/24"), BlockDirection::Source);
    ADD_FAILURE() << "removed";
  } catch (const BlocklistError& e) {
    EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused);
    EXPECT_NE(std::string(e.what()).find("203.0.113.0/24 (src) is the config's entry, config blocklist.entries[0]"),
              std::string::npos)
        << e.what();
  }
  BlockRule shorter = rule("203.0.113.0/24", BlockAction::Drop, BlockDirection::Source, monotonic_now_ns() + 1);
  EXPECT_THROW(bl.add(shorter), BlocklistError);
  ASSERT_EQ(bl.list().size(), 1u);
  EXPECT_TRUE(bl.list()[0].from_config);
  EXPECT_EQ(bl.list()[0].expires_mono_ns, 0u);
  check(Row{.description = "still dropped", .frame = udp_from("203.0.113.5"), .verdict = kXdpDrop, .record = kBlocked});
  // Its other direction is no config entry: a command may block it.
  bl.add(rule("203.0.113.0/24", BlockAction::Drop, BlockDirection::Destination));
  EXPECT_EQ(bl.size(), 2u);
}

// Nor punch a hole in one: the kernel applies the longest match alone, so a
// count entry inside a static drop entry let its addresses through, and an
// expired drop entry there matched nothing until the sweep (red team, round
// 18). Such entries are refused; those made before a reload that adds the
// drop entry are removed by it.
TEST_F(ProgramsTest, ACommandCannotPunchAHoleInAStaticDropEntry) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  BlockRule drop = rule("203.0.113.0/24"), count = rule("198.51.100.0/24", BlockAction::Count);
  drop.origin = "config blocklist.entries[0]";
  count.origin = "config blocklist.entries[1]";
  bl.set_static({drop, count});
  for (BlockAction action : {BlockAction::Count, BlockAction::Drop}) {
    try {
      bl.add(rule("203.0.113.5", action, BlockDirection::Source, monotonic_now_ns() + 1));
      ADD_FAILURE() << "a control entry inside the static drop entry was added";
    } catch (const BlocklistError& e) {
      EXPECT_EQ(e.kind(), BlocklistError::Kind::Refused);
      EXPECT_NE(std::string(e.what()).find("203.0.113.5/32 (src) is inside the config's drop entry 203.0.113.0/24, "
                                           "config blocklist.entries[0], which drops it already"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(bl.size(), 2u);
  check(Row{.description = "no hole", .frame = udp_from("203.0.113.5"), .verdict = kXdpDrop, .record = kBlocked});
  // A drop inside a static count entry makes it stronger; the other direction is no config entry's.
  bl.add(rule("198.51.100.7"));
  bl.add(rule("203.0.113.5", BlockAction::Count, BlockDirection::Destination));
  EXPECT_EQ(bl.size(), 4u);

  // The same hole made before the config had the drop entry: the reload ends it.
  BlockRule wider = rule("198.51.100.0/23");
  wider.origin = "config blocklist.entries[0]";
  const std::vector<BlockRule> removed = bl.set_static({wider});
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].prefix.text(), "198.51.100.7/32");
  EXPECT_EQ(bl.size(), 2u) << "the new static entry and the dst count entry";
  check(Row{.description = "dropped by the static entry", .frame = udp_from("198.51.100.7"), .verdict = kXdpDrop,
            .record = kBlocked});
}

// An address the sensor learned from the network (SLAAC from a router
// advertisement, DHCPv6: any link peer can hand one out) no longer makes a new
// block over it refused: the block is added and the address exempted at once.
// A configured address still refuses it (red team, round 18: one forged RA per
// prefix made the attacker's networks unblockable).
TEST_F(ProgramsTest, ANewBlockOverALearnedAddressIsAddedWithTheAddressExempted) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  bl.set_host_addresses_source([] {
    return SensorAddressList{.configured = {Prefix::parse("2001:db8:100::1")},
                             .learned = {Prefix::parse("2001:db8:bad:1:1c76:abff:fe14:f141")}};
  });
  bl.set_guard(blocklist_guard(BlocklistConfig{}, ""));
  EXPECT_THROW(bl.add(rule("2001:db8:100::/64")), BlocklistError) << "a configured address still refuses";
  const BlockRule added = bl.add(rule("2001:db8:bad:1::/64"));
  EXPECT_EQ(bl.exemptions(), 1u) << "exempted with the add, not at the next sweep";
  check({
      {.description = "the attacker's /64", .frame = udp6_from("2001:db8:bad:1::5"),
       .verdict = kXdpDrop, .record = with_verdict(SNIFFER_VERDICT_BLOCKED, added.id)},
      {.description = "the sensor's learned address", .frame = udp6_from("2001:db8:bad:1:1c76:abff:fe14:f141"),
       .record = kPassed},
  });
  const Blocklist::ExemptionChange change = bl.sync_exemptions();
  ASSERT_EQ(change.added.size(), 1u) << "the add's exemption is reported by the next sweep";
  EXPECT_EQ(change.added[0].address.text(), "2001:db8:bad:1:1c76:abff:fe14:f141/128");
  EXPECT_TRUE(bl.sync_exemptions().added.empty());
}

// A v4-mapped prefix (::ffff:203.0.113.5, as a dual-stack server logs an IPv4
// peer) is the IPv4 prefix: in the IPv6 trie it never matched (red team,
// round 18). The same for del and the allowlist.
TEST_F(ProgramsTest, AV4MappedPrefixIsTheIpv4Prefix) {
  load();
  configure(Mode::Gateway, Role::Wan, 1, true);
  Blocklist bl(*progs_);
  const BlockRule added = bl.add(rule("::ffff:203.0.113.0/120"));
  EXPECT_EQ(added.prefix.text(), "203.0.113.0/24");
  check(Row{.description = "dropped", .frame = udp_from("203.0.113.5"), .verdict = kXdpDrop,
            .record = with_verdict(SNIFFER_VERDICT_BLOCKED, added.id)});
  EXPECT_EQ(bl.remove(Prefix::parse("::ffff:203.0.113.0/120"), BlockDirection::Source).prefix.text(),
            "203.0.113.0/24");
  bl.add(rule("203.0.113.0/24"));
  bl.set_allowlist({Prefix::parse("::ffff:203.0.113.5")});
  check(Row{.description = "allowed", .frame = udp_from("203.0.113.5"), .record = kPassed});
}

}  // namespace
}  // namespace sniffer::test
