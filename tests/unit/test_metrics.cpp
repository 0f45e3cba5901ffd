// Prometheus text rendering of the daemon's counter report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sniffer/config.hpp"
#include "sniffer/metrics.hpp"

namespace sniffer {
namespace {

nlohmann::json sample_report() {
  return nlohmann::json::parse(R"({
    "kernel": {"records": 7, "ringbuf_full": 2, "filtered": 1, "parse_errors": 0, "unconfigured": 3,
               "ring_fill_bytes": 224, "ring_size_bytes": 4096,
               "interfaces": {"wan0": {"packets": {"xdp_ingress": {"udp": 5, "tcp": 0}},
                                       "bytes": {"xdp_ingress": {"udp": 500, "tcp": 0}},
                                       "records": 4, "ringbuf_full": 1, "filtered": 0, "parse_errors": 1},
                              "lan\"0": {"packets": {"xdp_ingress": {"udp": 5}}, "bytes": {"xdp_ingress": {"udp": 60}},
                                         "records": 3, "ringbuf_full": 1, "filtered": 1, "parse_errors": 0}}},
    "userspace": {"records_received": 7, "decode_errors": {"bad_magic": 0},
                  "events_published": 7, "events_unsubscribed": 2, "events_dropped_hwm": 0,
                  "batches_published": 3, "publish_latency": {"pkt": {"sum_seconds": 0.25, "count": 3}},
                  "flows": {"active": 2, "capacity": 100, "created": 5, "evicted": 1, "updates": 0,
                            "ended_by_reason": {"FLOW_END_FIN": 3},
                            "publish": {"published": 3, "dropped_hwm": 0, "unsubscribed": 0, "batches_published": 1}}}
  })");
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
  EXPECT_TRUE(has_line(text, "sniffer_ring_buffer_fill_bytes 224"));
  EXPECT_TRUE(has_line(text, "sniffer_ring_buffer_size_bytes 4096"));
  EXPECT_TRUE(has_line(text, R"(sniffer_published_total{topic="flow"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_publish_batch_age_seconds_sum{topic="pkt"} 0.25)"));
  EXPECT_TRUE(has_line(text, R"(sniffer_publish_batch_age_seconds_count{topic="pkt"} 3)"));
  EXPECT_TRUE(has_line(text, "sniffer_flows_active 2"));
  EXPECT_TRUE(has_line(text, "sniffer_flows_evicted_total 1"));
  EXPECT_TRUE(has_line(text, R"(sniffer_flows_ended_total{reason="FLOW_END_FIN"} 3)"));
  EXPECT_TRUE(has_line(text, "# TYPE sniffer_packets_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sniffer_flows_active gauge"));
}

TEST(Metrics, MissingSectionsRenderAsZero) {
  std::string text = prometheus_text(nlohmann::json::object());
  EXPECT_TRUE(has_line(text, "sniffer_flows_active 0"));
  EXPECT_EQ(text.find("nan"), std::string::npos);
  // A missing map-valued section yields no sample, not one with an empty label.
  EXPECT_EQ(text.find("=\"\""), std::string::npos) << text;
}

TEST(Metrics, SummaryLineNamesTheKeyFigures) {
  std::string line = summary_line(sample_report());
  EXPECT_NE(line.find("records 7"), std::string::npos) << line;
  EXPECT_NE(line.find("ring_full 2"), std::string::npos);
  EXPECT_NE(line.find("evicted 1"), std::string::npos);
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

TEST(Metrics, ServerBindErrorNamesTheKey) {
  MetricsServer first("127.0.0.1:0");
  ASSERT_GT(first.port(), 0);
  try {
    MetricsServer second("127.0.0.1:" + std::to_string(first.port()));
    FAIL() << "bound a port already in use";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.listen"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sniffer
