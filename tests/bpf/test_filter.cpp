// bpf tier, filter: which packets yield a record (configured interfaces,
// the port filter), on which hook, and in which slot they are counted.
#include <gtest/gtest.h>

#include "programs_fixture.hpp"

namespace sniffer::test {
namespace {

constexpr int kXdpUdp = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);

Bytes udp(std::uint16_t sport, std::uint16_t dport) {
  return Frame{}.ipv4({.src = "198.51.100.10", .dst = "192.0.2.10"}).udp({.sport = sport, .dport = dport});
}

TEST_F(ProgramsTest, UnconfiguredInterfaceYieldsNoRecord) {
  load();
  check(Row{.description = "never configured",
            .frame = udp(1, 2),
            .counters = {{SNIFFER_STAT_UNCONFIGURED, 1}, {SNIFFER_STAT_RECORDS, 0}, {kXdpUdp, 0}}});
  configure();
  check(Row{.description = "configured", .frame = udp(0, 0), .record = RecordFields{}});
  // And after removal, the interface is unconfigured again.
  progs_->remove_interface(kLoopback);
  check(Row{.description = "removed", .frame = udp(0, 0), .counters = {{SNIFFER_STAT_UNCONFIGURED, 1}}});
  EXPECT_EQ(stat(SNIFFER_STAT_UNCONFIGURED), 2u);
}

TEST_F(ProgramsTest, PortFilterIncludeWinsThenExcludeThenDefault) {
  load();
  configure();
  const RecordFields recorded{};
  const CounterDeltas kept{{SNIFFER_STAT_RECORDS, 1}, {SNIFFER_STAT_FILTERED, 0}};
  const CounterDeltas filtered{{SNIFFER_STAT_RECORDS, 0}, {SNIFFER_STAT_FILTERED, 1}};
  progs_->set_filter({.default_capture = false, .include_ports = {53}, .exclude_ports = {22}});
  check({
      {.description = "default skip: included port", .frame = udp(40000, 53), .record = recorded, .counters = kept},
      {.description = "default skip: include beats exclude", .frame = udp(53, 22), .record = recorded, .counters = kept},
      {.description = "default skip: excluded port", .frame = udp(40000, 22), .counters = filtered},
      {.description = "default skip: other port", .frame = udp(40000, 80), .counters = filtered},
      {.description = "default skip: no ports (ICMP)", .frame = Frame{}.ipv4().icmp(), .counters = filtered},
  });
  // Default capture, exclude 22 only: the include rule is removed.
  progs_->set_filter({.default_capture = true, .include_ports = {}, .exclude_ports = {22}});
  check({
      {.description = "default capture: excluded port", .frame = udp(40000, 22), .counters = filtered},
      {.description = "default capture: other port", .frame = udp(40000, 80), .record = recorded, .counters = kept},
      {.description = "default capture: 53 is no longer included", .frame = udp(53, 22), .counters = filtered},
  });
  EXPECT_EQ(stat(SNIFFER_STAT_FILTERED), 5u);
  EXPECT_EQ(stat(SNIFFER_STAT_RECORDS), 3u);
}

TEST_F(ProgramsTest, TcProgramsTagTheirHookAndContinue) {
  load();
  configure(Mode::HostBased, Role::Wan);
  const Bytes frame = Frame{}.ipv4({.src = "192.0.2.1", .dst = "198.51.100.10"}).tcp({.sport = 22, .dport = 50000});
  for (auto [hook, tag] : {std::pair{Hook::TcEgress, SNIFFER_HOOK_TC_EGRESS},
                           std::pair{Hook::TcIngress, SNIFFER_HOOK_TC_INGRESS}}) {
    check(Row{.description = tag == SNIFFER_HOOK_TC_EGRESS ? "TC egress" : "TC ingress",
              .frame = frame,
              .verdict = kTcContinue,
              .record = RecordFields{.ifindex = kLoopback, .wire_len = frame.size(), .hook = tag, .sport = 22},
              .counters = {{SNIFFER_STAT_PACKETS(tag, SNIFFER_CLASS_TCP), 1}},
              .hook = hook});
    EXPECT_EQ(stat(SNIFFER_STAT_PACKETS(tag, SNIFFER_CLASS_TCP)), 1u);
  }
}

TEST_F(ProgramsTest, CountersLandInTheInterfacesSlot) {
  load();
  configure(Mode::Gateway, Role::Wan, 5);
  check(Row{.description = "slot 5", .frame = udp(1, 2), .record = RecordFields{}});
  KernelCounters c = progs_->read_counters();
  EXPECT_EQ(c.slots[5][kXdpUdp], 1u);
  EXPECT_EQ(c.slots[5][SNIFFER_STAT_RECORDS], 1u);
  EXPECT_EQ(c.slots[1][SNIFFER_STAT_RECORDS], 0u);
  progs_->remove_interface(kLoopback);
  check(Row{.description = "unconfigured", .frame = udp(1, 2)});
  EXPECT_EQ(progs_->read_counters().slots[0][SNIFFER_STAT_UNCONFIGURED], 1u);
  EXPECT_THROW(progs_->set_interface(kLoopback, Mode::Gateway, Role::Wan, 0), std::exception);
}

}  // namespace
}  // namespace sniffer::test
