// What the sensor says and shows about an endpoint it runs without
// (metrics.listen, publish.endpoint, control.endpoint): one rule for the
// three. A start whose bind fails for a reason that may pass (a squatter, an
// address the host has not yet: endpoint_holders.hpp) runs without it; from
// then on no failure of a retry ends the run, whatever it is (root or our
// own user now holding the port, EMFILE...): the sensor keeps capturing and
// enforcing, logs each new reason once, naming the holder, and tries again
// every kRebindSeconds, since the holder may go (red team, round 17: a
// metrics retry that met root exited 1 mid-run; a publish retry waited
// forever without a word).
#pragma once

#include <cstdint>
#include <string>

namespace sniffer {

class EndpointRetry {
 public:
  // key: the config key ("publish.endpoint"); without: what running without
  // it means, for the log ("it (no block commands until then)").
  EndpointRetry(std::string key, std::string endpoint, std::string without);
  // The start's failure that may pass (`refused`: why, holder included): logged.
  void start_failed(const std::string& refused, std::uint64_t now_ns);
  // Whether a retry is due.
  bool due(std::uint64_t now_ns) const { return now_ns >= next_ns_; }
  // A retry's failure; `clash`: one a start would refuse (the endpoint held by
  // root or our own user, another errno than the passing ones). Logged when
  // `refused` differs from the last reason; returns whether it was.
  bool retry_failed(const std::string& refused, bool clash, std::uint64_t now_ns);
  // Bound after waiting (`where`: as bound): logged.
  void bound(const std::string& where);
  // Why it is not bound, or empty once it is.
  const std::string& refused() const { return refused_; }

 private:
  std::string key_, endpoint_, without_;
  std::string refused_;
  std::uint64_t next_ns_ = 0;
};

}  // namespace sniffer
