// What the sensor says and shows about an endpoint it runs without
// (metrics.listen, publish.endpoint, control.endpoint): one rule for the
// three. A start whose bind fails for a reason that may pass (a squatter, an
// address the host has not yet: endpoint_holders.hpp) runs without it; from
// then on no failure of a retry ends the run, whatever it is (root or our
// own user now holding the port, EMFILE...): the sensor keeps capturing and
// enforcing, logs each new reason once, naming the holder, and tries again
// every kRebindSeconds, since the holder may go (red team, round 17: a
// metrics retry that met root exited 1 mid-run; a publish retry waited
// forever without a word). A reason is new by what its holder cannot change
// at will (the errno, the holders' uids: `reason`), not by its pid or process
// name (red team, round 18: a squatter renaming itself got a line every 5 s).
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace sniffer {

class EndpointRetry {
 public:
  // key: the config key ("publish.endpoint"); without: what running without
  // it means, for the log ("it (no block commands until then)").
  EndpointRetry(std::string key, std::string endpoint, std::string without);
  // The start's failure that may pass (`refused`: why, holder and its
  // process included; `reason`: the same without the process): logged.
  void start_failed(const std::string& refused, const std::string& reason, std::uint64_t now_ns);
  // Whether a retry is due.
  bool due(std::uint64_t now_ns) const { return now_ns >= next_ns_; }
  // A retry's failure; `clash`: one a start would refuse (the endpoint held by
  // root or our own user, another errno than the passing ones). Logged, as
  // `refused`, when `reason` was not said yet in this wait or it is a clash
  // where the last said was not, or the other way round; returns whether it was.
  bool retry_failed(const std::string& refused, const std::string& reason, bool clash, std::uint64_t now_ns);
  // Bound after waiting (`where`: as bound): logged.
  void bound(const std::string& where);
  // Why it is not bound (the last failure), or empty once it is.
  const std::string& refused() const { return refused_; }

 private:
  // Whether a failure for `reason` is to be said (remembering it).
  bool is_new(const std::string& reason, bool clash);

  std::string key_, endpoint_, without_;
  std::string refused_;
  // The reasons said since the last bind, so that a holder going back and
  // forth between two (listening or only bound, one uid or another) says each
  // once; and whether the last one said was a clash, which is always said
  // when it changes (root took the port, or left it to a squatter).
  std::set<std::string> said_;
  bool said_clash_ = false;
  std::uint64_t next_ns_ = 0;
};

}  // namespace sniffer
