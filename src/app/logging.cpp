#include "sniffer/logging.hpp"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sniffer {

namespace {

// {"time": "2026-11-21T23:57:12.361Z", "level": "info", "msg": "..."}: the
// message is escaped by nlohmann, so quotes and newlines in it stay valid JSON.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto since_epoch = msg.time.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
    std::time_t t = secs.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    nlohmann::json line{{"time", stamp},
                        {"level", spdlog::level::to_string_view(msg.level).data()},
                        {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void setup_logging(const std::string& level, int verbosity, bool json) {
  auto logger = spdlog::stderr_color_mt("sniffer");
  spdlog::set_default_logger(logger);
  if (json) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  auto lvl = spdlog::level::from_str(level);
  if (verbosity >= 2) lvl = spdlog::level::trace;
  else if (verbosity == 1) lvl = std::min(lvl, spdlog::level::debug);
  spdlog::set_level(lvl);
}

}  // namespace sniffer
