// Interfaces appearing, disappearing, going down and up: a non-blocking
// NETLINK_ROUTE socket subscribed to the link and address groups, drained
// once per iteration of the daemon's loop. The parsing is a pure function of
// the bytes received, unit-tested without a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sniffer {

struct LinkEvent {
  enum class Kind { NewOrChanged, Deleted };
  Kind kind = Kind::NewOrChanged;
  std::uint32_t ifindex = 0;
  std::string name;            // IFLA_IFNAME (empty if the message had none)
  std::uint32_t flags = 0;     // ifi_flags: IFF_UP, IFF_RUNNING, ...
  std::uint8_t operstate = 0;  // IFLA_OPERSTATE (IF_OPER_UNKNOWN if absent)

  bool admin_up() const;
  // Administratively up and operational (IFF_UP and IFF_RUNNING): what the
  // daemon counts as "up".
  bool link_up() const;
};

// What one drain of the socket brought.
struct LinkChanges {
  std::vector<LinkEvent> links;    // in the order the kernel sent them
  bool addresses_changed = false;  // an IPv4/IPv6 address was added or removed
  bool overrun = false;            // ENOBUFS: events were lost, re-sync everything

  bool empty() const { return links.empty() && !addresses_changed && !overrun; }
};

// Parses a buffer of netlink messages (what one recv() returned) into `out`:
// RTM_NEWLINK/RTM_DELLINK become LinkEvents, RTM_NEWADDR/RTM_DELADDR set
// addresses_changed, anything else (and anything truncated) is skipped.
void parse_netlink_messages(const void* data, std::size_t len, LinkChanges& out);

// "up", "down", "lowerlayerdown", ... for IFLA_OPERSTATE (RFC 2863 names).
const char* operstate_name(std::uint8_t operstate);

// The current ifindex and flags of an interface by name (if_nametoindex and
// SIOCGIFFLAGS), or nullopt if it does not exist: the re-sync's view.
std::optional<LinkEvent> query_link(const std::string& name);

class LinkMonitor {
 public:
  // Opens and binds the socket (throws Error).
  LinkMonitor();
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  // Reads everything queued, never waits.
  LinkChanges poll();
  // Times the socket overran (ENOBUFS) and the daemon had to re-sync.
  std::uint64_t overruns() const { return overruns_; }

 private:
  int fd_ = -1;
  std::uint64_t overruns_ = 0;
  std::vector<char> buffer_ = std::vector<char>(32768);
};

}  // namespace sniffer
