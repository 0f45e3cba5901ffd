// The rules on a whole Config, however it was built (the file, --interface
// overrides, code), and what a server socket's endpoint must be.
#include "sniffer/config.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "sniffer/abi.h"
#include "sniffer/config_reader.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

namespace {

constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

void check_hooks(ConfigReader& r, const std::vector<Hook>& hooks, const std::string& path) {
  if (hooks.empty()) {
    r.fail(path, "no hooks (expected some of " + quoted_choices(kHookNames, ", ") + ")");
    return;
  }
  std::set<Hook> seen;
  for (Hook h : hooks) {
    if (!seen.insert(h).second) r.fail(path, std::string("hook \"") + to_string(h) + "\" listed twice");
  }
  if (seen.count(Hook::XdpIngress) && seen.count(Hook::TcIngress)) {
    r.fail(path, std::string("\"") + to_string(Hook::XdpIngress) + "\" and \"" + to_string(Hook::TcIngress) +
                     "\" both see ingress: every packet would be counted twice");
  }
}

// Each named once, one WAN interface (the sensor's model is one uplink: flow
// directions would be ambiguous), any number of LAN ones, hooks.
void check_interfaces(ConfigReader& r, const std::vector<InterfaceConfig>& interfaces) {
  auto path_of = [&](std::size_t i) {
    return interfaces[i].origin.empty() ? ConfigReader::item("interfaces", i) : interfaces[i].origin;
  };
  auto label = [&](std::size_t i) {
    const InterfaceConfig& iface = interfaces[i];
    if (!iface.origin.empty()) return iface.origin;
    return path_of(i) + (iface.name.empty() ? "" : " (\"" + iface.name + "\")");
  };
  std::map<std::string, std::size_t> names;
  std::optional<std::size_t> wan;
  for (std::size_t i = 0; i < interfaces.size(); ++i) {
    const InterfaceConfig& iface = interfaces[i];
    const std::string path = path_of(i);
    if (iface.name.empty() || iface.name.size() >= IF_NAMESIZE) {
      r.fail(path + ".name", "an interface name has 1 to " + std::to_string(IF_NAMESIZE - 1) + " characters, got \"" +
                                 iface.name + "\"");
    } else if (auto [it, inserted] = names.emplace(iface.name, i); !inserted) {
      r.fail(path + ".name", "interface \"" + iface.name + "\" is already listed at " + path_of(it->second));
    }
    if (iface.role == Role::Wan && !iface.name.empty()) {
      if (wan) {
        r.fail(path + ".role", "\"wan\" is already the role of " + label(*wan) +
                                   ": a sensor has one WAN interface (LAN interfaces may be several)");
      } else {
        wan = i;
      }
    }
    check_hooks(r, iface.hooks, path + ".hooks");
  }
  if (interfaces.size() > SNIFFER_MAX_IFACES - 1) {
    r.fail("interfaces", "at most " + std::to_string(SNIFFER_MAX_IFACES - 1) + " interfaces, got " +
                             std::to_string(interfaces.size()));
  }
}

void check_capture(ConfigReader& r, const CaptureConfig& capture) {
  const std::uint32_t rb = capture.ring_buffer_bytes;
  if (rb == 0 || (rb & (rb - 1)) != 0) {
    r.fail("capture.ring_buffer_bytes",
           "must be a power of two (the kernel's ring buffer rule), got " + std::to_string(rb));
  }
  if (capture.wakeup_bytes && *capture.wakeup_bytes >= rb) {
    r.fail("capture.wakeup_bytes", "must be smaller than capture.ring_buffer_bytes (" + std::to_string(rb) +
                                       "), else the reader is woken only by its poll timer");
  }
  const std::uint32_t crb = capture.full_packet_ring_bytes;
  if (crb == 0 || (crb & (crb - 1)) != 0) {
    r.fail("capture.full_packet_ring_bytes",
           "must be a power of two (the kernel's ring buffer rule), got " + std::to_string(crb));
  }
  if (capture.full_packet_directory.empty() || capture.full_packet_directory.front() != '/') {
    r.fail("capture.full_packet_directory", "must be an absolute path");
  }
}

// The filter's rules and flows.packet_ports share the port_filters map.
void check_ports(ConfigReader& r, const FilterConfig& filter, const FlowConfig& flows) {
  std::set<std::uint16_t> inc(filter.include_ports.begin(), filter.include_ports.end());
  for (auto p : filter.exclude_ports) {
    if (inc.count(p)) r.fail("filter.exclude_ports", "port " + std::to_string(p) + " is also in include_ports");
  }
  if (filter.include_ports.size() + filter.exclude_ports.size() > SNIFFER_MAX_PORT_FILTERS) {
    r.fail("filter", "at most " + std::to_string(SNIFFER_MAX_PORT_FILTERS) + " port rules");
  }
  std::set<std::uint16_t> all = inc;
  all.insert(filter.exclude_ports.begin(), filter.exclude_ports.end());
  all.insert(flows.packet_ports.begin(), flows.packet_ports.end());
  if (all.size() > SNIFFER_MAX_PORT_FILTERS) {
    r.fail("flows.packet_ports", "with filter.include_ports and exclude_ports, at most " +
                                     std::to_string(SNIFFER_MAX_PORT_FILTERS) + " distinct ports");
  }
}

void check_endpoints(ConfigReader& r, const PublishConfig& publish, const ControlConfig& control) {
  if (auto why = bind_endpoint_problem(publish.endpoint); !why.empty()) r.fail("publish.endpoint", why);
  if (control.endpoint.empty()) return;
  if (auto why = bind_endpoint_problem(control.endpoint); !why.empty()) {
    r.fail("control.endpoint", why + "; empty: no control socket");
  } else if (control.endpoint == publish.endpoint) {
    r.fail("control.endpoint", "is publish.endpoint: the control socket needs its own");
  }
  if (control.curve.secret_key_file.empty() || control.curve.authorized_keys_file.empty()) {
    r.fail("control.curve", "missing: the control socket changes what the gateway drops, so only "
                            "CURVE-authenticated clients may use it ({\"secret_key_file\", \"authorized_keys_file\"})");
  }
}

void check_log_level(ConfigReader& r, const std::string& level) {
  std::string levels;
  bool known = false;
  for (const char* l : kLogLevels) {
    levels += (levels.empty() ? "" : ", ") + std::string(l);
    known = known || level == l;
  }
  if (!known) r.fail("log_level", "unknown level \"" + level + "\" (" + levels + ")");
}

// Judged in its normal form: "/sys/fs/bpf/../../etc" is "/etc", and
// "/sys/fs/bpf/." is bpffs's root, where a clean exit would remove every pin.
void check_pin_path(ConfigReader& r, const std::string& pin_path) {
  if (pin_path.empty()) return;
  const std::string normal = normal_pin_path(pin_path);
  const std::string bpffs = "/sys/fs/bpf/";
  if (normal.size() > bpffs.size() && normal.rfind(bpffs, 0) == 0) return;
  r.fail("pin_path", "\"" + pin_path + "\"" + (normal == pin_path ? "" : " (that is \"" + normal + "\")") +
                         " is not under /sys/fs/bpf/ (empty disables pinning)");
}

}  // namespace

std::string normal_pin_path(const std::string& pin_path) {
  if (pin_path.empty()) return pin_path;
  std::string normal = std::filesystem::path(pin_path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

std::vector<ConfigError> validate_config(const Config& c) {
  ConfigReader r;
  if (c.sensor_id.empty()) r.fail("sensor_id", "must not be empty (leave it out to use the host name)");
  check_interfaces(r, c.interfaces);
  check_capture(r, c.capture);
  check_ports(r, c.filter, c.flows);
  check_endpoints(r, c.publish, c.control);
  check_log_level(r, c.log_level);
  check_pin_path(r, c.pin_path);
  return std::move(r.errors);
}

void check_config(const Config& config) {
  auto errors = validate_config(config);
  if (!errors.empty()) throw ConfigInvalid(std::move(errors));
}

std::string bind_endpoint_problem(const std::string& e) {
  const std::string quoted = "\"" + e + "\"";
  if (e.rfind("tcp://", 0) == 0) {
    const std::string rest = e.substr(6);
    std::string host, port;
    if (!rest.empty() && rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return quoted + ": expected tcp://[IPv6 ADDRESS]:PORT";
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
      in6_addr a6{};
      if (inet_pton(AF_INET6, host.substr(0, host.find('%')).c_str(), &a6) != 1) {
        return quoted + ": \"" + host + "\" is not an IPv6 address";
      }
    } else {
      auto colon = rest.rfind(':');
      if (colon == std::string::npos) return quoted + " has no port (tcp://ADDRESS:PORT, e.g. tcp://127.0.0.1:5556)";
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (host.empty()) return quoted + " has no address (tcp://ADDRESS:PORT; * binds every address)";
      if (host.find(':') != std::string::npos) {
        return quoted + ": an IPv6 address is written in brackets, e.g. tcp://[::1]:PORT";
      }
      in_addr a4{};
      if (host != "*" && inet_pton(AF_INET, host.c_str(), &a4) != 1 &&
          (host.size() >= IF_NAMESIZE || if_nametoindex(host.c_str()) == 0)) {
        return quoted + ": \"" + host + "\" is neither an IP address nor an interface of this host: use 127.0.0.1, "
               "[::1] or * (every address); ZeroMQ binds to an address or interface, not a host name";
      }
    }
    if (port == "*" || port == "0") {
      return quoted + ": an ephemeral port (" + port + ") would not be known to subscribers: give a port 1-65535";
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) < 1 || std::stoul(port) > 65535) {
      return quoted + ": port \"" + port + "\" is not a number between 1 and 65535";
    }
    return {};
  }
  if (e.rfind("ipc://", 0) == 0) {
    const std::string path = e.substr(6);
    if (path.empty()) return quoted + " has no path (e.g. ipc:///run/sniffer/events.sock)";
    constexpr std::size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
    if (path.size() > kMaxPath) {
      return quoted + ": the path has " + std::to_string(path.size()) + " characters, more than a Unix socket's " +
             std::to_string(kMaxPath);
    }
    if (path.front() == '@') return {};  // Linux abstract namespace: no file
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      const int err = errno;
      return quoted + ": its directory \"" + dir + "\" " +
             (err == ENOENT ? std::string("does not exist") : "cannot be used: " + errno_text(err));
    }
    if (!S_ISDIR(st.st_mode)) return quoted + ": \"" + dir + "\" is not a directory";
    return {};
  }
  if (e.rfind("inproc://", 0) == 0 && e.size() > 9) return {};
  return quoted + " is not a ZeroMQ endpoint (tcp://ADDRESS:PORT, ipc://PATH)";
}

}  // namespace sniffer
