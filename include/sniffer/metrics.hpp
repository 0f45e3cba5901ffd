// Prometheus text-format metrics rendered from the daemon's counter report
// (report.hpp; the families: metric_families.hpp), served over HTTP on
// metrics.listen by a single-threaded, non-blocking server with a
// whole-request deadline and a connection cap (http_server.hpp).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "sniffer/http_server.hpp"
#include "sniffer/report.hpp"

namespace sniffer {

std::string prometheus_text(const Report& report);

// One-line human summary of the same report, for the periodic log line.
std::string summary_line(const Report& report);

// The metrics endpoint's own counters (connections accepted, open, dropped by
// reason, requests served and rejected by reason) as Prometheus text; every
// scrape appends them to the daemon's text.
std::string http_server_text(const HttpServerStats& stats);

class MetricsServer {
 public:
  // Binds HOST:PORT now (a clear error naming metrics.listen if it cannot) and
  // serves GET /metrics from a background thread, within `limits`.
  explicit MetricsServer(const std::string& listen, HttpLimits limits = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Replaces the text served (the capture loop calls this; it never waits
  // on a scrape longer than a string swap).
  void update(std::string text);
  int port() const;
  HttpServerStats stats() const;

 private:
  std::mutex mutex_;
  std::string text_;
  std::unique_ptr<HttpServer> server_;  // last: stopped (joined) before the text it reads goes
};

}  // namespace sniffer
