// The monitored interfaces at run time: their iface_configs entries, their
// counter slots and their attachments, per (interface, hook). Applying a new
// interface list changes only what differs, so interfaces that stay as they
// were keep their attachments and lose no packet (live reload).
//
// Interfaces also change under the daemon (link events from the LinkMonitor):
// a configured interface that is deleted becomes "absent" (attachments and
// iface_configs entry dropped, counter slot and config kept); when an
// interface of that name appears again, with whatever ifindex, it gets the
// same slot (its kernel counters continue) and its configured hooks again.
// XDP and TC links survive a link down/up, so that is only logged and counted.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sniffer/attach.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/error.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/link_monitor.hpp"
#include "sniffer/log_throttle.hpp"
#include "sniffer/retry_delay.hpp"

namespace sniffer {

// A configured interface that does not exist and is not monitored yet.
class InterfaceUnavailable : public Error {
 public:
  using Error::Error;
};

// attach(): some configured hooks could not be attached (each named); every
// other hook was, and the next attach() (SIGHUP) tries the missing ones again.
// modes_kept_only(): none is missing, but an XDP hook whose xdp_mode change
// failed is still attached in its previous mode.
class HooksMissing : public Error {
 public:
  explicit HooksMissing(const std::string& what, bool modes_kept_only = false)
      : Error(what), modes_kept_only_(modes_kept_only) {}
  bool modes_kept_only() const { return modes_kept_only_; }

 private:
  bool modes_kept_only_;
};

class InterfaceManager {
 public:
  InterfaceManager(BpfPrograms& progs, TcAttach tc_attach) : progs_(progs), tc_attach_(tc_attach) {}
  ~InterfaceManager();

  // Resolves every interface, then fills iface_configs for new and changed
  // ones. A missing interface that is not monitored yet is an
  // InterfaceUnavailable (naming it) and changes nothing; one already
  // monitored that is missing stays configured and absent, and is attached
  // when it appears.
  void configure(const std::vector<InterfaceConfig>& interfaces);
  // configure()'s resolution alone: throws InterfaceUnavailable, changes nothing.
  void check(const std::vector<InterfaceConfig>& interfaces) const;
  // The roles whose interfaces check ingress packets against the blocklist
  // (blocklist.roles); re-fills iface_configs of the present interfaces.
  // Call before configure() at start; again on reload.
  void set_blocklist_roles(const std::vector<Role>& roles);
  bool blocklist_for(Role role) const;
  // Attaches the configured hooks that are not attached yet (on present
  // interfaces), and detaches those no longer configured. A hook that fails
  // does not stop the others: HooksMissing names every failure at the end.
  void attach();
  // Finds hooks someone else removed (a link detached by id, a clsact qdisc
  // deleted, a filter replaced), logs and counts them, and attaches them
  // again; tries missing hooks again on their backoff. At most once a second
  // unless `now` is 0 (SIGHUP: always).
  void verify(std::uint64_t now_mono_ns);
  // Detaches every program (iface_configs stays, for the final counters).
  void detach_attachments() { attached_.clear(); }
  // Detaches everything and empties iface_configs.
  void detach_all();

  // Link events (LinkMonitor::poll): configured interfaces deleted, renamed,
  // re-created, down or up; after an overrun, a re-sync of every configured
  // interface by name. Never throws (failures are logged and counted).
  // Returns true when table() changed: the pipeline must learn it.
  bool apply(const LinkChanges& changes);
  // Re-resolves every configured interface by name and applies what differs.
  void resync();

  // By ifindex, for the pipeline: the present interfaces, and the previous
  // ifindex of each interface that was lost (so records and flows still in
  // flight from it keep its name and role; same counter slot).
  const InterfaceTable& table() const { return table_; }
  // By name: present, up, ifindex, and the link events counted.
  std::map<std::string, LinkCounters> link_counters() const;
  std::uint64_t resyncs() const { return resyncs_; }

 private:
  std::map<std::string, std::optional<LinkEvent>> resolve(const std::vector<InterfaceConfig>& interfaces) const;
  struct LinkEvents {
    std::uint64_t down = 0, up = 0, lost = 0, reattached = 0, reattach_errors = 0, hooks_detached = 0;
  };
  static constexpr std::uint64_t kCalmNs = 60'000'000'000;      // a hook that stayed this long ends a fight
  struct Entry {
    InterfaceConfig config;
    InterfaceInfo info;          // info.ifindex: the current one, or the last one while absent
    bool present = true;
    bool up = false;             // IFF_UP and IFF_RUNNING
    bool reattach_pending = false;
    std::uint32_t retired_ifindex = 0;  // the ifindex it had when it was last lost
    // Hooks not attached: failed at the last attach, or waiting to be attached
    // again after repeated removals. A hook kept in its previous XDP mode is
    // attached (it observes), so it is not counted.
    std::uint64_t hooks_missing = 0;
    // Missing hooks are tried again (verify) from then on, the delay doubled
    // after each failure up to kLongestRetryNs (retry_delay.hpp): a tool that held the hook for a
    // moment must not leave the interface unhooked until a SIGHUP.
    std::uint64_t retry_at_ns = 0;
    std::uint64_t retry_delay_ns = 0;
    std::uint64_t retries = 0;
    // A hook found removed or replaced by someone else: the first time it is
    // attached again at once, and `reclaim` takes our clsact handle back from
    // whoever replaced it; removed again within kCalmNs, the next attach waits
    // 1, 2, 4 ... 30 s (a tool fighting the sensor sets neither the pace of
    // re-attaching nor the log's volume).
    bool reclaim = false;
    // Per hook (indexed by Hook): removed in a row, each within kCalmNs of
    // the last. Two hooks removed once each (a qdisc reset and a link
    // detach) are no fight.
    struct Removals {
      std::uint32_t count = 0;
      std::uint64_t last_ns = 0;
    };
    std::array<Removals, 3> removals{};
    // An xdp_mode change that failed (the driver lacks the mode): the XDP hook
    // stays in this previous mode, counted attached, until a SIGHUP tries again.
    std::optional<XdpMode> xdp_kept;
    LinkEvents counters;
  };
  std::uint8_t free_slot() const;
  void rebuild_table();
  std::unique_ptr<Attachment> attach_hook(const std::string& name, const Entry& e, Hook hook, XdpMode xdp_mode);
  // reload: a SIGHUP's (or the start's) attach, which also changes XDP modes;
  // otherwise (re-attaching, retrying) a hook kept in its previous mode stays.
  void attach_entry(const std::string& name, Entry& e, bool reload);
  void restore_xdp(const std::string& name, Entry& e, XdpMode mode, std::string& failures);
  static bool fighting(const Entry& e);
  void removed(const std::string& name, Entry& e, const Attachment& what, Hook hook, std::uint64_t now_ns);
  void retry_missing(std::uint64_t now_mono_ns);
  void on_link(const LinkEvent& link);
  void lost(const std::string& name, Entry& e, const std::string& why);
  void appeared(const std::string& name, Entry& e, const LinkEvent& link, bool attach_now);
  void link_state(const std::string& name, Entry& e, const LinkEvent& link);

  BpfPrograms& progs_;
  TcAttach tc_attach_;
  std::map<std::string, Entry> entries_;  // by name
  InterfaceTable table_;                  // by ifindex, for the pipeline
  std::map<std::pair<std::string, Hook>, std::pair<XdpMode, std::unique_ptr<Attachment>>> attached_;
  bool table_changed_ = false;
  std::vector<Role> blocklist_roles_;
  std::uint64_t resyncs_ = 0;
  std::uint64_t last_verify_ns_ = 0;
  LogThrottle removed_log_;  // "removed or replaced by someone else": per hook
};

}  // namespace sniffer
