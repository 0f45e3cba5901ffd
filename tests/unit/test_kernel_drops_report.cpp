// Kernel drop reasons without a kernel: the options drops.* turn into (the
// reasons given as a table), the report's JSON and the Prometheus samples.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sniffer/error.hpp"
#include "sniffer/kernel_drops.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/report.hpp"

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

}  // namespace
}  // namespace sniffer
