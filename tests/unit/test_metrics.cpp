// The daemon's counter report: its JSON and its Prometheus text.
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sniffer/config.hpp"
#include "sniffer/metric_families.hpp"
#include "sniffer/metrics.hpp"
#include "sniffer/report.hpp"

namespace sniffer {
namespace {

KernelStats block(std::initializer_list<std::pair<int, std::uint64_t>> values) {
  KernelStats s{};
  for (auto [index, n] : values) s[index] = n;
  return s;
}

Report sample_report() {
  Report r;
  const int udp_in = SNIFFER_STAT_PACKETS(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);
  const int udp_in_bytes = SNIFFER_STAT_BYTES(SNIFFER_HOOK_XDP_INGRESS, SNIFFER_CLASS_UDP);
  r.kernel.total = block({{SNIFFER_STAT_RECORDS, 7}, {SNIFFER_STAT_RINGBUF_FULL, 2}, {SNIFFER_STAT_FILTERED, 1},
                          {SNIFFER_STAT_UNCONFIGURED, 3}, {SNIFFER_STAT_RING_FILL, 224}});
  r.kernel.interfaces["wan0"] = block({{udp_in, 5}, {udp_in_bytes, 500}, {SNIFFER_STAT_RECORDS, 4},
                                       {SNIFFER_STAT_RINGBUF_FULL, 1}, {SNIFFER_STAT_PARSE_ERROR, 1}});
  r.kernel.interfaces["lan\"0"] = block({{udp_in, 5}, {udp_in_bytes, 60}, {SNIFFER_STAT_RECORDS, 3},
                                         {SNIFFER_STAT_RINGBUF_FULL, 1}, {SNIFFER_STAT_FILTERED, 1}});
  r.kernel.ring_size_bytes = 4096;
  r.ring = {.records_received = 7, .decode_errors = {{"bad_magic", 0}}};
  r.pipeline.events = PublishCounters{.batches_sent = 3, .items_sent = 7, .items_unsubscribed = 2,
                                      .batch_age_ns_sum = 250'000'000};
  r.pipeline.flow_stream = PublishCounters{.batches_sent = 1, .items_sent = 3};
  r.pipeline.flows = FlowCounters{.created = 5, .updates = 0, .evicted = 1, .active = 2, .capacity = 100,
                                  .ended_by_reason = {{"FLOW_END_FIN", 3}}};
  return r;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, RendersEveryFamilyWithLabels) {
  std::string text = prometheus_text(sample_report());
  EXPECT_TRUE(has_line(text, R"(sniffer_packets_total{interface="wan0",hook="xdp_ingress",class="udp"} 5)")) << text;
  EXPECT_TRUE(has_line(text, R"(sniffer_bytes_total{interface="wan0",hook="xdp_ingress",class="udp"} 500)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_records_total{interface="wan0"} 4)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_parse_errors_total{interface="wan0"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_dropped_total{stage="kernel",reason="ring_full",interface="wan0"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_dropped_total{stage="kernel",reason="filtered",interface="lan\"0"} 1)"))
      << "label values are escaped";
  EXPECT_TRUE(has_line(text, R"(sniffer_dropped_total{stage="kernel",reason="unconfigured_interface"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_dropped_total{stage="publish",reason="no_subscriber",topic="pkt"} 2)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_dropped_total{stage="decode",reason="bad_magic"} 0)"));
  EXPECT_TRUE(has_line(text, "sniffer_ring_buffer_fill_bytes 224"));
  EXPECT_TRUE(has_line(text, "sniffer_ring_buffer_size_bytes 4096"));
  EXPECT_TRUE(has_line(text, R"(sniffer_published_total{topic="flow"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_publish_batch_age_seconds_sum{topic="pkt"} 0.25)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_publish_batch_age_seconds_count{topic="pkt"} 3)"));
  EXPECT_TRUE(has_line(text, "sniffer_flows_active 2"));
  EXPECT_TRUE(has_line(text, "sniffer_flows_evicted_total 1"));
  EXPECT_TRUE(has_line(text, R"(sniffer_flows_ended_total{reason="FLOW_END_FIN"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_kernel_flow_update_failures_total{interface="wan0",reason="map_full"} 0)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_blocklist_packets_total{interface="wan0",result="dropped"} 0)"));
  EXPECT_TRUE(has_line(text, "# TYPE sniffer_packets_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sniffer_flows_active gauge"));
  EXPECT_TRUE(has_line(text, "# TYPE sniffer_publish_batch_age_seconds summary"));
}

// Each family once (HELP and TYPE), its samples together.
TEST(Metrics, EachFamilyIsWrittenOnce) {
  std::string text = prometheus_text(sample_report());
  std::set<std::string> types;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      EXPECT_TRUE(types.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
    }
  }
  EXPECT_EQ(types.size(), metric_families().size());
}

// A kernel counter is in the JSON report (in total, and per interface unless
// its labels have no "interface") and in the metrics, with its value: a row
// added to SNIFFER_STATS needs nothing else.
TEST(Metrics, EveryKernelCounterIsReportedAndExported) {
  Report r;
  r.kernel.interfaces["wan0"] = {};
  for (const KernelCounterDef& def : kKernelCounters) {
    r.kernel.total[def.index] = 1000 + def.index;
    r.kernel.interfaces["wan0"][def.index] = 2000 + def.index;
  }
  const nlohmann::json j = r.to_json();
  const std::string text = prometheus_text(r);
  for (const KernelCounterDef& def : kKernelCounters) {
    const std::string key(def.key);
    EXPECT_EQ(j["kernel"][key], 1000 + def.index) << key;
    EXPECT_EQ(j["kernel"]["interfaces"]["wan0"].contains(key), def.per_interface()) << key;
    const std::string value = std::to_string((def.per_interface() ? 2000 : 1000) + def.index);
    bool found = false;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      found |= line.rfind(std::string(def.family), 0) == 0 && line.ends_with(" " + value) &&
               (!def.per_interface() || line.find(R"(interface="wan0")") != std::string::npos);
    }
    EXPECT_TRUE(found) << key << " in " << def.family << "\n" << text;
  }
}

TEST(Metrics, MissingSectionsRenderAsZero) {
  std::string text = prometheus_text(Report{});
  EXPECT_TRUE(has_line(text, "sniffer_flows_active 0"));
  EXPECT_TRUE(has_line(text, "sniffer_ring_buffer_size_bytes 0"));
  EXPECT_TRUE(has_line(text, R"(sniffer_publish_batch_age_seconds_sum{topic="pkt"} 0)"));
  EXPECT_EQ(text.find("nan"), std::string::npos);
  // A missing map-valued section yields no sample, not one with an empty label.
  EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
}

TEST(Metrics, SummaryLineNamesTheKeyFigures) {
  std::string line = summary_line(sample_report());
  EXPECT_NE(line.find("records 7"), std::string::npos) << line;
  EXPECT_NE(line.find("ring_full 2"), std::string::npos);
  EXPECT_NE(line.find("ring_fill 224 B"), std::string::npos);
  EXPECT_NE(line.find("events published 7"), std::string::npos);
  EXPECT_NE(line.find("evicted 1"), std::string::npos);
}

// The JSON report's shape (README "Counters and accounting"; e2e tests read it).
TEST(Report, JsonHasTheDocumentedShape) {
  Report r = sample_report();
  r.pipeline.flows->kernel_aggregation = true;
  r.live = LiveCounters{.interface_events = {{"wan0", LinkCounters{.present = true, .ifindex = 4, .lost = 1}}},
                        .netlink_resyncs = 2,
                        .blocklist = {.entries = 3, .refused = {{"min_prefix", 1}}, .control = {{"block", {{"ok", 4}}}}}};
  r.endpoints = {{"metrics.listen", ""}, {"publish.endpoint", "cannot bind: Address already in use, held by uid 0"}};
  const nlohmann::json j = r.to_json();
  const nlohmann::json& k = j["kernel"];
  EXPECT_EQ(k["ring_size_bytes"], 4096);
  EXPECT_EQ(k["interfaces"]["wan0"]["packets"]["xdp_ingress"]["udp"], 5);
  EXPECT_EQ(k["interfaces"]["wan0"]["bytes"]["xdp_ingress"]["udp"], 500);
  EXPECT_EQ(k["interfaces"]["wan0"]["packets"]["tc_egress"]["other"], 0);
  EXPECT_FALSE(k["interfaces"]["wan0"].contains("unconfigured"));
  EXPECT_FALSE(k["interfaces"]["wan0"].contains("ring_fill_bytes"));
  const nlohmann::json& u = j["userspace"];
  EXPECT_EQ(u["records_received"], 7);
  EXPECT_EQ(u["decode_errors"]["bad_magic"], 0);
  EXPECT_EQ(u["events_published"], 7);
  EXPECT_EQ(u["events_unsubscribed"], 2);
  EXPECT_EQ(u["publish_latency"]["pkt"]["count"], 3);
  EXPECT_EQ(u["flows"]["aggregation"], "kernel");
  EXPECT_EQ(u["flows"]["ended_by_reason"]["FLOW_END_FIN"], 3);
  EXPECT_EQ(u["flows"]["publish"]["published"], 3);
  EXPECT_TRUE(u["flows"].contains("sweep_failures"));
  EXPECT_EQ(u["interface_events"]["wan0"]["present"], true);
  EXPECT_EQ(u["interface_events"]["wan0"]["lost"], 1);
  EXPECT_EQ(u["netlink_resyncs"], 2);
  EXPECT_EQ(u["blocklist"]["entries"], 3);
  EXPECT_EQ(u["blocklist"]["refused"]["min_prefix"], 1);
  EXPECT_EQ(u["blocklist"]["control"]["block"]["ok"], 4);
  EXPECT_EQ(u["endpoints"]["metrics.listen"], nlohmann::json({{"bound", true}}));
  EXPECT_EQ(u["endpoints"]["publish.endpoint"],
            nlohmann::json({{"bound", false}, {"refused", "cannot bind: Address already in use, held by uid 0"}}));
  EXPECT_NE(prometheus_text(r).find("sniffer_endpoint_unbound{endpoint=\"metrics.listen\"} 0\n"), std::string::npos);
  EXPECT_NE(prometheus_text(r).find("sniffer_endpoint_unbound{endpoint=\"publish.endpoint\"} 1\n"), std::string::npos);
  // Offline: no live section, no ring size; userspace flows have no "aggregation".
  Report offline = sample_report();
  offline.kernel.ring_size_bytes.reset();
  const nlohmann::json o = offline.to_json();
  EXPECT_FALSE(o["kernel"].contains("ring_size_bytes"));
  EXPECT_FALSE(o["userspace"].contains("blocklist"));
  EXPECT_FALSE(o["userspace"].contains("interface_events"));
  EXPECT_FALSE(o["userspace"]["flows"].contains("aggregation"));
}

TEST(Metrics, ListenAddressIsValidated) {
  auto bad = [](const char* listen) {
    try {
      parse_config(std::string(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                                   "metrics": {"listen": ")") + listen + "\"}}");
    } catch (const ConfigInvalid& e) {
      return std::string(e.what()).find("metrics.listen") != std::string::npos;
    }
    return false;
  };
  EXPECT_TRUE(bad("localhost"));
  EXPECT_TRUE(bad("127.0.0.1:99999"));
  EXPECT_TRUE(bad(":80"));
  EXPECT_FALSE(bad("127.0.0.1:9750"));
  EXPECT_FALSE(bad(""));  // disabled
}

// A port held by root or our own user is a clash of configuration (another
// service, a second sensor): an error naming the key and the holder. (One
// held by another user, a squatter, is waited for: test_port_squatters.py.)
TEST(Metrics, ServerBindErrorNamesTheKeyAndTheHolder) {
  MetricsServer first("127.0.0.1:0");
  ASSERT_GT(first.port(), 0);
  try {
    MetricsServer second("127.0.0.1:" + std::to_string(first.port()));
    FAIL() << "bound a port already in use";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.listen"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(", held by uid " + std::to_string(geteuid())), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sniffer
