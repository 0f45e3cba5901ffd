// The counters of a run, every stage's, in one typed report: its JSON is the
// final report on stdout, the "stats" topic's payload and --dry-run's
// "kernel"; metrics.hpp renders the same report as Prometheus text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sniffer/counters.hpp"

namespace sniffer {

// What the live daemon adds to the stages of an offline run.
struct LiveCounters {
  std::map<std::string, LinkCounters> interface_events;  // by name
  std::uint64_t netlink_resyncs = 0;
  BlocklistCounters blocklist;
  CaptureCounters captures;
};

struct Report {
  KernelReport kernel;
  RingCounters ring;
  PipelineCounters pipeline;                 // over every worker
  std::vector<WorkerCounters> workers;       // each worker's share (capture.workers)
  std::optional<std::map<std::string, AuthCounters>> auth;  // by ZAP domain, with CURVE
  std::uint64_t publish_connection_cuts = 0;  // PublishSocket::connection_cuts
  std::uint64_t connections_refused = 0;      // accepts_refused_for_descriptors (accept_guard.hpp)
  // The servers' endpoints configured (metrics.listen, publish.endpoint,
  // control.endpoint) by key: why one is not bound, "" when it is
  // (endpoint_retry.hpp).
  std::map<std::string, std::string> endpoints;
  std::optional<LiveCounters> live;

  // {"kernel": {...}, "userspace": {...}} (README "Counters and accounting").
  nlohmann::json to_json() const;
};

// {"packets": {hook: {class: n}}, "bytes": {...}, <key>: n, ..., "interfaces": {name: {...}}}
nlohmann::json to_json(const KernelReport& kernel);

}  // namespace sniffer
