// Kernel drop reasons: the skb:kfree_skb program, loaded and attached for
// real, counts what the kernel drops on a monitored interface. Each test runs
// in a thread of its own network namespace (the namespace is per thread),
// whose loopback is the monitored interface: UDP datagrams to a port nobody
// listens on are dropped by the kernel with reason NO_SOCKET.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "sniffer/error.hpp"
#include "sniffer/kernel_drops.hpp"

namespace sniffer::test {
namespace {

constexpr int kDatagrams = 7;
constexpr std::uint16_t kClosedPort = 9;  // discard: nothing listens in a new namespace

// Runs `body` in a new thread inside a new network namespace with lo up.
void in_new_netns(const std::function<void()>& body) {
  std::string failure;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      failure = "unshare(CLONE_NEWNET): " + errno_text(errno);
      return;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    ifr.ifr_flags = IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) failure = "bring lo up: " + errno_text(errno);
    close(fd);
    if (failure.empty()) body();
  });
  t.join();
  ASSERT_TRUE(failure.empty()) << failure;
}

void send_to_closed_port(int count) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(kClosedPort);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < count; ++i) sendto(fd, "drop", 4, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(fd);
}

// Loads the programs with drops on (ignoring `ignored`), lo monitored in slot 1.
KernelDropCounters count_drops(const DropsConfig& config) {
  const DropReasons reasons = DropReasons::from_kernel("");
  EXPECT_TRUE(reasons.supported()) << reasons.why_unsupported();
  LoadOptions load;
  set_drop_options(config, reasons, load);
  EXPECT_TRUE(load.drops);
  BpfPrograms programs(load);
  programs.set_interface(1, Mode::HostBased, Role::Lan, 1);
  std::optional<KernelDrops> drops = KernelDrops::attach(programs, reasons);
  EXPECT_TRUE(drops.has_value());
  if (!drops) return {};
  send_to_closed_port(kDatagrams);
  const InterfaceTable table{{1, InterfaceInfo{.name = "lo", .ifindex = 1, .stats_slot = 1}}};
  return drops->read(table);
}

TEST(KernelDrops, ReasonNamesComeFromTheKernelsBtf) {
  const DropReasons reasons = DropReasons::from_kernel("");
  ASSERT_TRUE(reasons.supported()) << reasons.why_unsupported();
  EXPECT_EQ(reasons.name(*reasons.value("NO_SOCKET")), "NO_SOCKET");
  for (const char* name : {"NOT_SPECIFIED", "NETFILTER_DROP", "IP_RPFILTER", "IP_INNOROUTES"}) {
    EXPECT_TRUE(reasons.value(name).has_value()) << name;
  }
  EXPECT_FALSE(reasons.value("SKB_DROP_REASON_NO_SOCKET").has_value()) << "the prefix is removed";
  EXPECT_EQ(reasons.name(0x7fff0001), "reason_2147418113");
}

TEST(KernelDrops, CountsTheKernelsDropsOnAMonitoredInterfaceByReason) {
  in_new_netns([] {
    const KernelDropCounters d = count_drops(DropsConfig{});
    ASSERT_TRUE(d.interfaces.contains("lo"));
    const auto& lo = d.interfaces.at("lo");
    ASSERT_TRUE(lo.contains("NO_SOCKET"));
    EXPECT_EQ(lo.at("NO_SOCKET")[SNIFFER_CLASS_UDP], kDatagrams);
    EXPECT_EQ(lo.at("NO_SOCKET")[SNIFFER_CLASS_TCP], 0u);
    EXPECT_EQ(d.unattributed.at("map_full"), 0u);
    EXPECT_EQ(d.unattributed.at("interface_gone"), 0u);
  });
}

TEST(KernelDrops, IgnoredReasonsAreCountedAsIgnored) {
  in_new_netns([] {
    const KernelDropCounters d = count_drops(DropsConfig{.reasons_ignored = {"NO_SOCKET"}});
    ASSERT_TRUE(d.interfaces.contains("lo"));
    const auto& lo = d.interfaces.at("lo");
    EXPECT_FALSE(lo.contains("NO_SOCKET"));
    ASSERT_TRUE(lo.contains("ignored"));
    EXPECT_EQ(lo.at("ignored")[SNIFFER_CLASS_UDP], kDatagrams);
  });
}

TEST(KernelDrops, AnotherNamespacesDropsAreNotCounted) {
  // The programs count for one new namespace; the datagrams are dropped on the lo of another.
  in_new_netns([] {
    const DropReasons reasons = DropReasons::from_kernel("");
    LoadOptions load;
    set_drop_options(DropsConfig{}, reasons, load);
    BpfPrograms programs(load);
    programs.set_interface(1, Mode::HostBased, Role::Lan, 1);
    std::optional<KernelDrops> drops = KernelDrops::attach(programs, reasons);
    ASSERT_TRUE(drops.has_value());
    in_new_netns([] { send_to_closed_port(kDatagrams); });
    const InterfaceTable table{{1, InterfaceInfo{.name = "lo", .ifindex = 1, .stats_slot = 1}}};
    EXPECT_TRUE(drops->read(table).interfaces.empty()) << "another namespace's lo is not ours";
  });
}

}  // namespace
}  // namespace sniffer::test
