// Prometheus text-format metrics rendered from the daemon's counter report
// (report.hpp; the families: metric_families.hpp), served over HTTP on
// metrics.listen by a single-threaded, non-blocking server with a
// whole-request deadline and a connection cap (http_server.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "sniffer/endpoint_retry.hpp"
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
  // Binds HOST:PORT now and serves GET /metrics from a background thread,
  // within `limits`. A clear error naming metrics.listen if it cannot, except
  // when the address is taken or not the host's yet (BindError::passing): a
  // local user who takes the port first must not keep the sensor off the
  // wire, so it runs without the endpoint, says so, and tries again every
  // 5 s (bind_if_due()), logging each new reason but never throwing there
  // (endpoint_retry.hpp).
  explicit MetricsServer(const std::string& listen, HttpLimits limits = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Replaces the text served (the capture loop calls this; it never waits
  // on a scrape longer than a string swap).
  void update(std::string text);
  // While not serving, every kRebindSeconds: tries to bind again (serving
  // the text of the last update()); true when it just did.
  bool bind_if_due();
  bool serving() const { return server_ != nullptr; }
  int port() const;  // 0 while not serving
  // Why it is not serving (empty while it is).
  const std::string& refused() const { return retry_.refused(); }
  HttpServerStats stats() const;

 private:
  // Starts the server: throws BindError or Error when it cannot.
  void bind_server();

  std::string listen_;
  HttpLimits limits_;
  EndpointRetry retry_;  // while not serving: when to try again, what was said
  std::mutex mutex_;
  std::string text_;
  std::unique_ptr<HttpServer> server_;  // last: stopped (joined) before the text it reads goes
};

}  // namespace sniffer
