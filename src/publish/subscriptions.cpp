#include "sniffer/subscriptions.hpp"

#include <algorithm>

namespace sniffer {

void Subscriptions::apply(bool subscribe, const std::string& prefix, const std::string& peer) {
  auto it = owner_.find(prefix);
  if (subscribe == (it != owner_.end())) return;  // XPUB reports each once; nothing to change
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
  std::vector<std::pair<std::string, const Charge*>> known;
  for (const auto& [peer, charge] : per_peer_) {
    if (!peer.empty()) known.emplace_back(peer, &charge);
  }
  std::sort(known.begin(), known.end(), [](const auto& a, const auto& b) { return a.second->last > b.second->last; });
  std::vector<std::pair<std::string, std::size_t>> newest;
  newest.reserve(known.size());
  for (const auto& [peer, charge] : known) newest.emplace_back(peer, charge->prefixes);
  return newest;
}

}  // namespace sniffer
