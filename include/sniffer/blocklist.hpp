// The prevention blocklist: the rules the daemon knows (prefix, direction,
// action, expiry, reason, who asked) and their entries in the kernel's LPM
// tries, plus the allowlist that always wins. The kernel holds what it needs
// per packet (action, expiry, rule id, hit counter); the reason and origin
// stay here, keyed by rule id.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/error.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {

struct BlockRule {
  std::uint32_t id = 0;
  Prefix prefix;
  BlockDirection direction = BlockDirection::Source;
  BlockAction action = BlockAction::Drop;
  std::uint64_t created_wall_ns = 0;
  std::uint64_t expires_mono_ns = 0;  // 0: never
  std::uint64_t expires_wall_ns = 0;  // 0: never
  std::string reason;
  std::string origin;  // "config", or who sent the command
  std::uint64_t hits = 0;  // filled by list()
};

// Why a change was refused; the control socket turns it into an error reply.
class BlocklistError : public Error {
 public:
  enum class Kind { Full, NotFound, Refused };
  BlocklistError(Kind kind, const std::string& what) : Error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Blocklist {
 public:
  explicit Blocklist(BpfPrograms& progs);

  // block_settings: every entry count-only; records for dropped packets.
  void set_settings(bool monitor_only, bool record_dropped);
  // Replaces the allowlist.
  void set_allowlist(const std::vector<Prefix>& prefixes);
  // Adds or replaces the rule for (prefix, direction); returns it with its id.
  // Throws BlocklistError: Full when the trie is full, Refused when the
  // allowlist covers the prefix (it would never apply).
  BlockRule add(BlockRule rule);
  // Removes the rule for (prefix, direction). Throws BlocklistError NotFound.
  BlockRule remove(const Prefix& prefix, BlockDirection direction);
  // The rules with their hit counters.
  std::vector<BlockRule> list() const;
  // Removes the rules whose expiry has passed; returns them (with hits).
  std::vector<BlockRule> expire(std::uint64_t now_mono_ns);
  // Replaces the rules that came from the config (origin "config").
  void set_static(const std::vector<BlockRule>& rules);

  std::size_t size() const { return rules_.size(); }
  std::uint32_t capacity() const { return progs_.blocklist_max_entries(); }
  std::uint64_t allowlist_hits() const;

 private:
  using Key = std::pair<Prefix, BlockDirection>;
  int map_fd(const Prefix& p, BlockDirection d) const;
  int allow_fd(const Prefix& p) const;
  std::uint64_t read_hits(const BlockRule& r) const;
  void erase_from_kernel(const BlockRule& r);
  void update_dst_flag();

  BpfPrograms& progs_;
  std::map<Key, BlockRule> rules_;
  std::vector<Prefix> allow_;
  std::uint32_t next_id_ = 1;
  bool monitor_only_ = false, record_dropped_ = true;
};

}  // namespace sniffer
