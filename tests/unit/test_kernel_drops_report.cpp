// Kernel drop reasons without a kernel: the options drops.* turn into (the
// reasons given as a table), the report's JSON and the Prometheus samples,
// the drop record's validation and the flow table counting it on its flow.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "sniffer/error.hpp"
#include "sniffer/kernel_drops.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/record.hpp"
#include "sniffer/report.hpp"
#include "flow_packets.hpp"

namespace sniffer {
namespace {

const DropReasons kReasons({{2, "NOT_SPECIFIED"}, {3, "NO_SOCKET"}, {12, "NETFILTER_DROP"}, {600, "FAR_AWAY"}});

TEST(KernelDropOptions, IgnoredReasonsResolveToTheKernelsValues) {
  LoadOptions load;
  set_drop_options(DropsConfig{.reasons_ignored = {"NETFILTER_DROP", "NOT_SPECIFIED"}}, kReasons, load);
  EXPECT_TRUE(load.drops);
  EXPECT_EQ(load.drops_ignored, (std::vector<std::uint32_t>{12, 2}));
  EXPECT_NE(load.drops_netns, 0u);
}

TEST(KernelDropOptions, AnUnknownReasonNamesTheKeyAndTheReason) {
  LoadOptions load;
  try {
    set_drop_options(DropsConfig{.reasons_ignored = {"NO_SOCKET", "NO_SUCH"}}, kReasons, load);
    FAIL() << "an unknown reason was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("drops.reasons_ignored[1]: \"NO_SUCH\" is not a drop reason"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(set_drop_options(DropsConfig{.reasons_ignored = {"FAR_AWAY"}}, kReasons, load), Error)
      << "a reason beyond the ignorable range";
}

TEST(KernelDropOptions, OffWhenDisabledOrWithoutPrograms) {
  LoadOptions load;
  set_drop_options(DropsConfig{.enabled = false, .reasons_ignored = {"NO_SUCH"}}, kReasons, load);
  EXPECT_FALSE(load.drops) << "disabled: the reasons are not even checked";
  load.load_programs = false;
  set_drop_options(DropsConfig{}, kReasons, load);
  EXPECT_FALSE(load.drops);
}

TEST(KernelDropReport, JsonAndMetrics) {
  Report r;
  KernelDropCounters d;
  d.interfaces["wan0"]["NETFILTER_DROP"] = {0, 25, 0, 0};
  d.interfaces["wan0"]["ignored"] = {3, 0, 0, 0};
  d.unattributed = {{"map_full", 4}, {"interface_gone", 0}, {"tracepoint_missed", 1}};
  r.kernel.drops = d;
  const nlohmann::json j = r.to_json()["kernel"]["drops"];
  EXPECT_EQ(j["interfaces"]["wan0"]["NETFILTER_DROP"],
            (nlohmann::json{{"tcp", 0}, {"udp", 25}, {"icmp", 0}, {"other", 0}}));
  EXPECT_EQ(j["unattributed"]["map_full"], 4);
  const std::string text = prometheus_text(r);
  EXPECT_NE(text.find("# TYPE sniffer_kernel_drops_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("sniffer_kernel_drops_total{interface=\"wan0\",reason=\"NETFILTER_DROP\",protocol=\"udp\"} 25\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sniffer_kernel_drops_total{interface=\"wan0\",reason=\"ignored\",protocol=\"tcp\"} 3\n"),
            std::string::npos);
  EXPECT_EQ(text.find("reason=\"NETFILTER_DROP\",protocol=\"tcp\""), std::string::npos) << "zero: not sampled";
  EXPECT_NE(text.find("sniffer_dropped_total{stage=\"kernel_drops\",reason=\"map_full\"} 4\n"), std::string::npos);
}

TEST(KernelDropReport, AbsentWhenOff) {
  Report r;
  EXPECT_FALSE(r.to_json()["kernel"].contains("drops"));
  EXPECT_EQ(prometheus_text(r).find("sniffer_kernel_drops_total{"), std::string::npos);
}

TEST(DropRecordDecode, AcceptsOnlyAWellFormedDropRecord) {
  sniffer_drop_record r{};
  r.magic = SNIFFER_DROP_RECORD_MAGIC;
  r.abi_version = SNIFFER_ABI_VERSION;
  r.record_len = sizeof r;
  sniffer_drop_record out{};
  EXPECT_EQ(decode_drop_record(&r, sizeof r, out), DecodeStatus::Ok);
  EXPECT_EQ(decode_drop_record(&r, sizeof r - 1, out), DecodeStatus::TooShort);
  r.record_len = sizeof r + 8;
  EXPECT_EQ(decode_drop_record(&r, sizeof r, out), DecodeStatus::BadLength);
  r.record_len = sizeof r;
  r.magic = SNIFFER_RECORD_MAGIC;
  EXPECT_EQ(decode_drop_record(&r, sizeof r, out), DecodeStatus::BadMagic);
}

// A drop of the conversation's packet from `sender` (as the tracepoint reads it).
std::pair<FlowKey, bool> dropped(const test::Packet& sender) {
  const sniffer_record& r = sender.record;
  FlowKey key;
  const bool a_to_b = sniffer_flow_key_make(r.saddr, r.daddr, r.sport, r.dport, 0, r.l4_proto, r.ip_version, &key);
  return {key, a_to_b};
}

using test::FlowTableTest;

TEST_F(FlowTableTest, KernelDropsCountOnTheirFlowByDirection) {
  FlowTable t = make();
  const test::Packet from_client = test::packet(0, true, 10), from_server = test::packet(1 * test::kMs, false, 10);
  t.add(from_client);
  for (int i = 0; i < 3; ++i) {
    auto [key, a_to_b] = dropped(from_client);
    EXPECT_TRUE(t.count_kernel_drop(key, a_to_b));
  }
  auto [key, a_to_b] = dropped(from_server);
  EXPECT_TRUE(t.count_kernel_drop(key, a_to_b));
  test::Packet other = test::packet(0, true, 10);
  other.record.dport = 81;
  auto [other_key, other_a_to_b] = dropped(other);
  EXPECT_FALSE(t.count_kernel_drop(other_key, other_a_to_b)) << "no such flow";
  EXPECT_EQ(t.counters().kernel_drops, 4u);
  EXPECT_EQ(t.counters().kernel_drops_no_flow, 1u);
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].fwd().kernel_dropped(), 3u);
  EXPECT_EQ(out[0].bwd().kernel_dropped(), 1u);
}

}  // namespace
}  // namespace sniffer
