#include "sniffer/endpoint_retry.hpp"

#include <spdlog/spdlog.h>

#include "sniffer/endpoint_holders.hpp"  // kRebindSeconds

namespace sniffer {

EndpointRetry::EndpointRetry(std::string key, std::string endpoint, std::string without)
    : key_(std::move(key)), endpoint_(std::move(endpoint)), without_(std::move(without)) {}

namespace {

// Reasons remembered at most: a holder can make only a few (its uids, a
// socket listening or only bound); past it they are forgotten, not grown.
constexpr std::size_t kMaxReasonsSaid = 16;

}  // namespace

void EndpointRetry::start_failed(const std::string& refused, const std::string& reason, std::uint64_t now_ns) {
  refused_ = refused;
  is_new(reason, false);
  next_ns_ = now_ns + kRebindSeconds * 1'000'000'000ULL;
  spdlog::error("{} \"{}\": {}; the sensor runs without {} and tries again every {} s", key_, endpoint_, refused,
                without_, kRebindSeconds);
}

bool EndpointRetry::is_new(const std::string& reason, bool clash) {
  if (said_.count(reason) && clash == said_clash_) return false;
  if (said_.size() >= kMaxReasonsSaid) said_.clear();
  said_.insert(reason);
  said_clash_ = clash;
  return true;
}

bool EndpointRetry::retry_failed(const std::string& refused, const std::string& reason, bool clash,
                                 std::uint64_t now_ns) {
  next_ns_ = now_ns + kRebindSeconds * 1'000'000'000ULL;
  refused_ = refused;
  if (!is_new(reason, clash)) return false;
  if (clash) {
    // What a start refuses (a second sensor or another service on this
    // endpoint), but this run has its capture and blocks to keep: the holder
    // may go, and then it binds.
    spdlog::error("{} \"{}\": still not bound, now {}: a start would refuse this (another service or a second "
                  "sensor on this endpoint?); the sensor keeps running without {} and tries again every {} s",
                  key_, endpoint_, refused, without_, kRebindSeconds);
  } else {
    spdlog::warn("{} \"{}\": still not bound, now {}; the sensor runs without {} and tries again every {} s", key_,
                 endpoint_, refused, without_, kRebindSeconds);
  }
  return true;
}

void EndpointRetry::bound(const std::string& where) {
  spdlog::info("{}: bound {} now (before: {})", key_, where, refused_);
  refused_.clear();
  said_.clear();
  said_clash_ = false;
}

}  // namespace sniffer
