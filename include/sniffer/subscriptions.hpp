// The publish socket's subscriptions as XPUB reports them (XPUB_VERBOSE:
// every subscription, and the last unsubscription from a prefix), so the
// prefixes somebody wants right now, and every peer that subscribed. Each prefix is charged to the peer that
// subscribed to it first (ZeroMQ's "Peer-Address" of the message: the IP
// address for tcp, "localhost:UID:GID:PID" for ipc), so that a peer that
// piles up distinct subscriptions can be cut alone, and so that when many
// peers together hold too many, the ones that came last go first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sniffer {

class Subscriptions {
 public:
  // A subscription (or an unsubscription) to `prefix`; `peer` who sent it ("" unknown).
  void apply(bool subscribe, const std::string& prefix, const std::string& peer);
  // Whether a prefix of `topic` is subscribed.
  bool wanted(std::string_view topic) const;
  std::size_t size() const { return owner_.size(); }
  // The known peers charged with more than `limit` prefixes, most first.
  std::vector<std::pair<std::string, std::size_t>> peers_over(std::size_t limit) const;
  // Every known peer charged with a prefix, with how many, the newest peer
  // first: the one first seen last (a peer seen again after it left keeps
  // its first sighting: a detector that reconnects keeps its place), then
  // the one charged last. At most kMaxRemembered are remembered (when full,
  // those charged with nothing now are forgotten); one not remembered counts
  // as newer than any remembered.
  std::vector<std::pair<std::string, std::size_t>> peers_newest_first() const;
  static constexpr std::size_t kMaxRemembered = 4096;

 private:
  struct Charge {
    std::size_t prefixes = 0;
    std::uint64_t last = 0;  // when its newest prefix was charged (a count of charges)
  };
  std::map<std::string, std::string> owner_;  // prefix -> the peer charged with it
  std::map<std::string, Charge> per_peer_;    // peer -> what it is charged with
  std::map<std::string, std::uint64_t> first_seen_;  // peer -> its first charge (bounded: kMaxRemembered)
  std::uint64_t charges_ = 0;
};

}  // namespace sniffer
