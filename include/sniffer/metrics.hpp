// Prometheus text-format metrics rendered from the daemon's counter report,
// served over HTTP (cpp-httplib) on metrics.listen.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json_fwd.hpp>

namespace httplib {
class Server;
}

namespace sniffer {

// The report is the daemon's counter JSON: {"kernel": {...}, "userspace": {...}}.
std::string prometheus_text(const nlohmann::json& report);

// One-line human summary of the same report, for the periodic log line.
std::string summary_line(const nlohmann::json& report);

class MetricsServer {
 public:
  // Binds HOST:PORT now (a clear error if it cannot) and serves GET /metrics
  // from a background thread.
  explicit MetricsServer(const std::string& listen);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Replaces the text served (the capture loop calls this; it never waits
  // on a scrape longer than a string swap).
  void update(std::string text);
  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::string text_;
  int port_ = 0;
};

}  // namespace sniffer
