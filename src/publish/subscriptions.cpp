#include "sniffer/subscriptions.hpp"

#include <algorithm>

namespace sniffer {

void Subscriptions::apply(bool subscribe, const std::string& prefix, const std::string& peer) {
  auto it = owner_.find(prefix);
  // Every subscriber is remembered, the ones whose prefixes were held first
  // too. When full, the peers charged with nothing now are forgotten, or
  // peers passing through once would fill it for good (red team R15-5).
  if (subscribe && !peer.empty() && first_seen_.size() >= kMaxRemembered && !first_seen_.count(peer)) {
    std::erase_if(first_seen_, [&](const auto& seen) { return !per_peer_.count(seen.first); });
  }
  if (subscribe && !peer.empty() && first_seen_.size() < kMaxRemembered) first_seen_.emplace(peer, charges_ + 1);
  if (subscribe == (it != owner_.end())) return;  // a prefix held already, or an unknown one left
  if (subscribe) {
    owner_.emplace(prefix, peer);
    Charge& charge = per_peer_[peer];
    ++charge.prefixes;
    charge.last = ++charges_;
    return;
  }
  // An unsubscription comes when the last holder left, whoever that was:
  // the prefix is uncharged from the peer it was charged to.
  if (auto p = per_peer_.find(it->second); p != per_peer_.end() && --p->second.prefixes == 0) per_peer_.erase(p);
  owner_.erase(it);
}

bool Subscriptions::wanted(std::string_view topic) const {
  for (const auto& [prefix, peer] : owner_) {
    if (topic.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

std::vector<std::pair<std::string, std::size_t>> Subscriptions::peers_over(std::size_t limit) const {
  std::vector<std::pair<std::string, std::size_t>> over;
  for (const auto& [peer, charge] : per_peer_) {
    if (!peer.empty() && charge.prefixes > limit) over.emplace_back(peer, charge.prefixes);
  }
  std::sort(over.begin(), over.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return over;
}

std::vector<std::pair<std::string, std::size_t>> Subscriptions::peers_newest_first() const {
  struct Known {
    const std::string* peer;
    std::uint64_t first, last;
    std::size_t prefixes;
  };
  std::vector<Known> known;
  for (const auto& [peer, charge] : per_peer_) {
    if (peer.empty()) continue;
    const auto seen = first_seen_.find(peer);
    known.push_back({&peer, seen != first_seen_.end() ? seen->second : UINT64_MAX, charge.last, charge.prefixes});
  }
  std::sort(known.begin(), known.end(), [](const Known& a, const Known& b) {
    return a.first != b.first ? a.first > b.first : a.last > b.last;
  });
  std::vector<std::pair<std::string, std::size_t>> newest;
  newest.reserve(known.size());
  for (const Known& k : known) newest.emplace_back(*k.peer, k.prefixes);
  return newest;
}

}  // namespace sniffer
