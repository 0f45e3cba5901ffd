// bpf tier, the programs' interface cache (abi.h, SNIFFER_IFACE_CACHE_SLOTS):
// iface_configs is the source, the cache a copy in front of it. Every change
// through the daemon's writers shows in the very next record (role, mode,
// counter slot), never the entry it replaced; an interface whose slot another
// interface holds is still read from the map; a removed one yields nothing.
// The same for the port filter's bits in front of port_filters.
#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

constexpr int kXdpUdp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);

Bytes udp(std::uint16_t sport = 40000, std::uint16_t dport = 53) {
  return Frame{}.ipv4({.src = "198.51.100.10", .dst = "192.0.2.10"}).udp({.sport = sport, .dport = dport});
}

// One packet on lo, whose record must carry this mode and role.
Row on_lo(std::string what, std::uint64_t mode, std::uint64_t wan) {
  return Row{.description = std::move(what),
             .frame = udp(),
             .record = RecordFields{.ifindex = kLoopback, .mode = mode, .is_wan_facing = wan}};
}

TEST_F(ProgramsTest, InterfaceChangeShowsInTheNextRecord) {
  load();
  configure(Mode::Gateway, Role::Wan, 1);
  // Run twice each time: the second packet is the one a cached entry would serve.
  for (int i = 0; i < 2; ++i) {
    check(on_lo("wan, gateway, slot 1", SNIFFER_MODE_GATEWAY, 1));
  }
  configure(Mode::HostBased, Role::Lan, 3);
  for (int i = 0; i < 2; ++i) {
    check(on_lo("changed to lan, host-based, slot 3", SNIFFER_MODE_HOST_BASED, 0));
  }
  KernelCounters c = progs_->read_counters();
  EXPECT_EQ(c.slots[1][kXdpUdp], 2u);
  EXPECT_EQ(c.slots[3][kXdpUdp], 2u);

  progs_->remove_interface(kLoopback);
  for (int i = 0; i < 2; ++i) {
    check(Row{.description = "removed", .frame = udp(), .counters = {{SNIFFER_STAT_UNCONFIGURED, 1}}});
  }
  configure(Mode::Gateway, Role::Wan, 2);
  check(on_lo("configured again, slot 2", SNIFFER_MODE_GATEWAY, 1));
  EXPECT_EQ(progs_->read_counters().slots[2][kXdpUdp], 1u);
}

TEST_F(ProgramsTest, InterfaceSharingTheCacheSlotIsReadFromTheMap) {
  load();
  constexpr std::uint32_t kSameSlot = kLoopback + SNIFFER_IFACE_CACHE_SLOTS;  // holds lo's cache slot
  configure(Mode::Gateway, Role::Wan, 1);
  progs_->set_interface(kSameSlot, Mode::HostBased, Role::Lan, 2);
  check(on_lo("lo, its slot taken by another ifindex", SNIFFER_MODE_GATEWAY, 1));
  // Removing the other interface leaves lo as it is; changing lo (now not in
  // the slot) takes effect as well.
  progs_->remove_interface(kSameSlot);
  configure(Mode::HostBased, Role::Lan, 4);
  progs_->set_interface(kSameSlot, Mode::Gateway, Role::Wan, 2);
  check(on_lo("lo changed while another ifindex holds its slot", SNIFFER_MODE_HOST_BASED, 0));
  // Removing lo while another interface holds its slot: lo is unconfigured.
  progs_->remove_interface(kLoopback);
  check(Row{.description = "lo removed", .frame = udp(), .counters = {{SNIFFER_STAT_UNCONFIGURED, 1}}});
  EXPECT_EQ(progs_->read_counters().slots[4][kXdpUdp], 1u);
}

TEST_F(ProgramsTest, PortRuleChangesShowInTheNextPacket) {
  load();
  configure();
  const CounterDeltas kept{{SNIFFER_STAT_RECORDS, 1}, {SNIFFER_STAT_FILTERED, 0}};
  const CounterDeltas filtered{{SNIFFER_STAT_RECORDS, 0}, {SNIFFER_STAT_FILTERED, 1}};
  progs_->set_filter({.default_capture = true, .exclude_ports = {22, 65535, 0x4000}});
  check({
      {.description = "excluded 22", .frame = udp(40000, 22), .counters = filtered},
      {.description = "excluded 65535 (last bit)", .frame = udp(65535, 9), .counters = filtered},
      {.description = "excluded 16384", .frame = udp(0x4000, 9), .counters = filtered},
      {.description = "neighbours of a rule: 23", .frame = udp(40000, 23), .record = RecordFields{}, .counters = kept},
      {.description = "neighbours of a rule: 16385", .frame = udp(0x4001, 9), .record = RecordFields{}, .counters = kept},
  });
  progs_->set_filter({.default_capture = true, .exclude_ports = {23}});
  check({
      {.description = "22 no longer excluded", .frame = udp(40000, 22), .record = RecordFields{}, .counters = kept},
      {.description = "23 now excluded", .frame = udp(40000, 23), .counters = filtered},
  });
  progs_->set_filter({.default_capture = true});
  check(Row{.description = "no rules", .frame = udp(40000, 23), .record = RecordFields{}, .counters = kept});
}

}  // namespace
}  // namespace sniffer::test
