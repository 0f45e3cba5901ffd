// The prevention blocklist: the rules the daemon knows (prefix, direction,
// action, expiry, reason, who asked) and their entries in the kernel's LPM
// tries, plus the allowlist that always wins. The kernel holds what it needs
// per packet (action, expiry, rule id, hit counter); the reason and origin
// stay here, keyed by rule id.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sniffer/block_guard.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/error.hpp"
#include "sniffer/prefix.hpp"
#include "sniffer/sensor_addresses.hpp"

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
  // Why the entry exists: "config blocklist.entries[3]", or "control: " and
  // who sent the command (requester, key, key comment, address).
  std::string origin;
  bool from_config = false;  // a static entry (set_static replaces these)
  std::uint64_t hits = 0;  // filled by list()
};

// Why a change was refused; the control socket turns it into an error reply.
class BlocklistError : public Error {
 public:
  enum class Kind { Full, NotFound, Refused };
  BlocklistError(Kind kind, const std::string& what, std::optional<RefusalReason> reason = std::nullopt)
      : Error(what), kind_(kind), reason_(reason) {}
  Kind kind() const { return kind_; }
  // Refused: which rule of the guard (or the allowlist) refused it.
  std::optional<RefusalReason> reason() const { return reason_; }

 private:
  Kind kind_;
  std::optional<RefusalReason> reason_;
};

class Blocklist {
 public:
  explicit Blocklist(BpfPrograms& progs);

  // block_settings: every entry count-only; records for dropped packets.
  void set_settings(bool monitor_only, bool record_dropped);
  // Replaces the allowlist.
  void set_allowlist(const std::vector<Prefix>& prefixes);
  // The guard every entry passes before it reaches the kernel (min prefix
  // lengths, protected prefixes). set_guard keeps the control clients the
  // current guard has seen.
  void set_guard(BlockGuard guard);
  BlockGuard& guard() { return guard_; }
  const BlockGuard& guard() const { return guard_; }
  // Where the sensor's own addresses come from (read before each add, so an
  // address the host gained a moment ago is protected); unset: none. The
  // second form: every address a configured one (tests).
  void set_host_addresses_source(std::function<SensorAddressList()> source) { host_source_ = std::move(source); }
  void set_host_addresses_source(std::function<std::vector<Prefix>()> source) {
    host_source_ = [source = std::move(source)] { return SensorAddressList{.configured = source(), .learned = {}}; };
  }

  // Adds or replaces the rule for (prefix, direction); returns it with its id.
  // Throws BlocklistError: Full when the trie is full, Refused (with its
  // RefusalReason, counted) when the guard refuses the prefix (`extra`: more
  // protected prefixes, checked first: the sender of the command) or the
  // allowlist covers it (it would never apply).
  BlockRule add(BlockRule rule, const std::vector<ProtectedPrefix>& extra = {});
  // Adds many rules (a state file restored): the sensor's addresses read and
  // the kernel's dst flag set once for all, not per rule. `refused` gets each
  // rule add() would refuse, with the error, but for the sensor's addresses:
  // an address gained since a block was made is exempted, not a reason to
  // lose the block at a restart.
  void add_all(const std::vector<BlockRule>& rules,
               const std::function<void(const BlockRule&, const Error&)>& refused);
  // What add() would refuse (guard and allowlist), without counting it; the
  // sensor's addresses as last refreshed.
  std::optional<BlockRefusal> check(const Prefix& prefix, const std::vector<ProtectedPrefix>& extra = {},
                                    SensorAddresses sensor = SensorAddresses::Refused) const;
  // Re-reads the sensor's addresses from the source.
  void refresh_host_addresses();
  // Counts a refusal made outside add() (a static entry of a reload).
  void count_refusal(RefusalReason reason) { ++refused_[reason]; }
  // Refusals by reason, every reason present.
  std::map<RefusalReason, std::uint64_t> refused() const;
  // Removes the entries from the control socket that the guard now refuses
  // (after a reload protects more, or a new control client); returns them.
  // An address the sensor gained is no reason: it is exempted instead.
  std::vector<BlockRule> revoke_refused();
  // Removes the rule for (prefix, direction). Throws BlocklistError NotFound,
  // or Refused for the config's (from_config): a control client may not lift
  // the operator's policy (red team, round 17); add() refuses to replace one
  // for the same reason.
  BlockRule remove(const Prefix& prefix, BlockDirection direction);
  // The rules with their hit counters.
  std::vector<BlockRule> list() const;
  // The rules from the control socket (not from_config), without hits: what
  // blocklist.state_file keeps.
  std::vector<BlockRule> control_rules() const;
  // Removes the rules whose expiry has passed; returns them (with hits).
  std::vector<BlockRule> expire(std::uint64_t now_mono_ns);
  // Makes every control rule that ends later than the given time (or never)
  // end then, here and in the kernel (its hit counter kept); returns how many
  // changed. A reload that lowers blocklist.max_duration_s.
  std::size_t end_control_rules_by(std::uint64_t latest_mono_ns, std::uint64_t latest_wall_ns);
  // Replaces the rules that came from the config (from_config). Each passes
  // the guard (Refused names it) but for the sensor's addresses, which are
  // exempted (sync_exemptions); check them all first to change nothing.
  // Returns the control rules it removed: those now inside a drop entry of
  // the config (see config_drop_over).
  std::vector<BlockRule> set_static(const std::vector<BlockRule>& rules);

  // The sensor's own address inside a block entry: an exemption, the
  // address's host prefix in that direction's trie (SNIFFER_BLOCK_EXEMPT),
  // so that the entries over it apply to every other address but not to the
  // sensor's. The host's addresses change without the operator (a DHCP
  // lease, a router advertisement any link peer may send): such an address
  // neither lifts an entry nor removes one (red team, round 17).
  struct Exemption {
    Prefix address;
    BlockDirection direction = BlockDirection::Source;
    bool operator<(const Exemption& o) const {
      return std::tie(address, direction) < std::tie(o.address, o.direction);
    }
  };
  struct ExemptionChange {
    std::vector<Exemption> added, removed;
  };
  // Makes the exemptions those the rules and the sensor's addresses (as last
  // read) call for; returns what changed, since the last call (add() makes
  // the exemptions its rule calls for at once, reported here).
  ExemptionChange sync_exemptions();
  // The rules whose prefix covers the exemption's address in its direction.
  std::vector<BlockRule> covering(const Exemption& e) const;
  std::size_t exemptions() const { return exemptions_.size(); }

  std::size_t size() const { return rules_.size(); }
  std::uint32_t capacity() const { return progs_.blocklist_max_entries(); }
  std::uint64_t allowlist_hits() const;

 private:
  using Key = std::pair<Prefix, BlockDirection>;
  int map_fd(const Prefix& p, BlockDirection d) const;
  static std::size_t trie_index(const Prefix& p, BlockDirection d);  // 0..3, as rules_in_trie_
  // Rules with direction Destination: the kernel's has_dst_rules.
  std::size_t dst_rules() const { return rules_in_trie_[2] + rules_in_trie_[3]; }
  [[noreturn]] void throw_full() const;
  int allow_fd(const Prefix& p) const;
  std::uint64_t read_hits(const BlockRule& r) const;
  void erase_from_kernel(const BlockRule& r);
  void update_dst_flag();
  // rules_.erase, keeping rules_in_trie_ (not the kernel's entry: erase_from_kernel).
  std::map<Key, BlockRule>::iterator erase(std::map<Key, BlockRule>::iterator it);
  // Removes the rules `gone` selects from the maps; returns them with their hits.
  std::vector<BlockRule> remove_if(const std::function<bool(const BlockRule&)>& gone);

  BlockRule add_checked(BlockRule rule, const std::vector<ProtectedPrefix>& extra, bool update_flag = true,
                        SensorAddresses sensor = SensorAddresses::Refused);
  // Writes the rule's entry into its trie (BPF_ANY); false with errno set.
  bool write_to_kernel(const BlockRule& rule) const;
  // Throws BlocklistError Refused: `r` is the config's, commands leave it be.
  [[noreturn]] static void refuse_config_entry(const BlockRule& r);
  // The config's drop entry over a rule's prefix in its direction, if any.
  // A control rule there could only weaken it, since the kernel applies the
  // longest match alone: a count entry lets the addresses through, and an
  // expired entry matches nothing until the sweep (red team, round 18).
  const BlockRule* config_drop_over(const BlockRule& rule) const;
  [[noreturn]] static void refuse_inside_config_drop(const BlockRule& rule, const BlockRule& config);
  bool exempted(const BlockRule& rule) const { return exemptions_.count({rule.prefix, rule.direction}) != 0; }
  // Whether the rule covers the exemption's address in its direction.
  static bool covers(const BlockRule& rule, const Exemption& e);
  // Writes the rule's new end into its kernel entry (hits kept); false, logged, when it fails.
  bool shorten_in_kernel(const BlockRule& rule, std::uint64_t latest_mono_ns);
  // sync_exemptions' parts: what the rules and addresses call for, the
  // exemptions that go, those that come.
  std::set<Exemption> wanted_exemptions() const;
  void end_exemptions_not_in(const std::set<Exemption>& wanted, ExemptionChange& change);
  void add_exemptions(const std::set<Exemption>& wanted, ExemptionChange& change);
  // sync_exemptions() into `change`.
  void sync_exemptions_into(ExemptionChange& change);

  BpfPrograms& progs_;
  BlockGuard guard_;
  std::function<SensorAddressList()> host_source_;
  std::map<RefusalReason, std::uint64_t> refused_;
  std::map<Key, BlockRule> rules_;
  std::vector<Prefix> allow_;
  std::uint32_t next_id_ = 1;
  std::set<Key> config_drops_;  // the keys of rules_ from the config with action Drop
  // Rules per trie (IPv4 src, IPv6 src, IPv4 dst, IPv6 dst): at most
  // capacity(); the tries' room beyond is the exemptions' (kBlockExemptionRoom).
  std::array<std::size_t, 4> rules_in_trie_{};
  // The guard (and its generation) revoke_refused() last checked every
  // control rule against; nullopt: check again.
  std::optional<std::uint64_t> revoke_checked_;
  std::vector<Prefix> sensor_addresses_;  // configured and learned, as refresh_host_addresses() last read them
  ExemptionChange unreported_;            // made by add(), not yet returned by sync_exemptions()
  std::set<Exemption> exemptions_;        // in the kernel's tries
  std::set<Exemption> failing_exemptions_;  // wanted, but their write failed (logged once)
  std::uint64_t rule_changes_ = 0;        // grows with each rule added or erased
  // The guard's generation and rule_changes_ sync_exemptions() last saw.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> exemptions_synced_;
  bool monitor_only_ = false, record_dropped_ = true;
};

}  // namespace sniffer
