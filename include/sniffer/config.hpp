// The daemon's configuration: sniffer.json, parsed and validated.
// Every key is documented in README.md ("Configuration reference").
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sniffer/block_guard.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {

enum class Role { Wan, Lan };
enum class Mode { HostBased, Gateway };
enum class XdpMode { Auto, Native, Generic };
enum class Hook { XdpIngress, TcIngress, TcEgress };
enum class TcAttach { Auto, Tcx, Clsact };
enum class FlowAggregation { Userspace, Kernel };
// A subscriber whose queue is full (publish.send_hwm): it alone loses
// batches until it drains, the others get them (Isolate); or nobody gets the
// batch (AllOrNone: exact drop counts, but one stuck subscriber stops the
// stream for everyone). README "Slow subscribers".
enum class SlowSubscriber { Isolate, AllOrNone };

struct InterfaceConfig {
  std::string name;
  Role role = Role::Lan;
  Mode mode = Mode::Gateway;
  XdpMode xdp_mode = XdpMode::Auto;
  std::vector<Hook> hooks;  // never empty after parsing (defaults by mode)
  // Where it was given, for errors: empty for the config file's
  // "interfaces[N]", "--interface SPEC" for a command-line override.
  std::string origin;
};

struct CaptureConfig {
  std::uint32_t ring_buffer_bytes = 16u * 1024u * 1024u;
  std::uint32_t payload_bytes = 0;
  // Queued bytes that wake the daemon; absent ("auto"): wakeup_bytes().
  std::optional<std::uint32_t> wakeup_bytes;
  std::uint32_t poll_interval_ms = 20;
  // Worker threads, each with its own ring, flow table shard and batches
  // (0: one per receive queue of the interfaces, at most one per CPU and
  // 8; offline always 1).
  std::uint32_t workers = 0;
  TcAttach tc_attach = TcAttach::Auto;
  // Full-packet capture on demand (`sniffer capture`): the ring its frames
  // go through, and the directory its pcapng files are written in.
  std::uint32_t full_packet_ring_bytes = 4u * 1024u * 1024u;
  std::string full_packet_directory = "/var/lib/sniffer/captures";
  // Free space captures leave on that directory's filesystem, which usually
  // holds the blocklist's state file too: no capture starts with less free,
  // and a running one stops (its file kept) when less is left. 0: no bound.
  std::uint64_t keep_free_bytes = std::uint64_t{1} << 30;
};

// The "auto" wakeup: a sixteenth of the ring. At 184-byte packet records a
// 16 MiB ring wakes the daemon every ~5,700 records instead of every ~356
// at 64 KiB (-14 % daemon CPU per packet in bench/peers.sh), and a ring of
// any size keeps 15/16 of its room for the records that arrive while the
// daemon wakes; at low rates poll_interval_ms bounds the delay.
inline std::uint32_t wakeup_bytes(const CaptureConfig& capture) {
  return capture.wakeup_bytes ? *capture.wakeup_bytes : capture.ring_buffer_bytes / 16;
}

struct FilterConfig {
  bool default_capture = true;
  std::vector<std::uint16_t> include_ports;
  std::vector<std::uint16_t> exclude_ports;
};

// Milliseconds (the config's unit) in nanoseconds (the clocks').
constexpr std::uint64_t ms_to_ns(std::uint32_t ms) { return std::uint64_t{ms} * 1'000'000; }

struct FlowConfig {
  bool enabled = true;
  std::uint32_t max_flows = 65536;
  std::uint32_t idle_timeout_ms = 120000;
  std::uint32_t active_timeout_ms = 1800000;
  std::uint32_t tcp_close_grace_ms = 2000;
  std::uint32_t activity_timeout_ms = 5000;
  // Where flows are aggregated: userspace (from every packet record) or
  // kernel (in a BPF map; the ring carries flow records).
  FlowAggregation aggregation = FlowAggregation::Userspace;
  // Kernel aggregation: 1 in N packets still yields a packet record (when
  // publish.packet_events is on); 0: none, 1: every packet.
  std::uint32_t packet_sample_one_in = 100;
  // Kernel aggregation: packets with one of these ports (source or
  // destination) always yield a packet record, for payload detectors.
  std::vector<std::uint16_t> packet_ports;
};

// Kernel drop reasons (the skb:kfree_skb tracepoint, kernel/kernel_drops).
struct DropsConfig {
  bool enabled = true;                       // on where the kernel supports it
  std::vector<std::string> reasons_ignored;  // reason names (enum skb_drop_reason), checked at start
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9750";  // empty: no HTTP endpoint
  std::uint32_t log_interval_s = 60;      // 0: no periodic log line
  std::uint32_t stats_interval_s = 10;    // 0: no "stats" topic messages
};

// CURVE on a server socket: its secret key, and the client public keys it
// admits (checked by the ZAP handler, include/sniffer/curve_auth.hpp).
struct CurveConfig {
  std::string secret_key_file;       // one Z85 secret key; mode 0600 (group/other refused)
  std::string authorized_keys_file;  // client public keys, one Z85 key a line
};

struct PublishConfig {
  std::string endpoint = "tcp://127.0.0.1:5556";
  bool packet_events = true;
  std::uint32_t batch_max_events = 256;
  std::uint32_t batch_max_latency_ms = 100;
  int send_hwm = 1000;
  SlowSubscriber slow_subscriber = SlowSubscriber::Isolate;
  std::uint32_t community_id_seed = 0;  // Community ID v1 seed (0..65535) of every event and flow record
  std::optional<CurveConfig> curve;  // absent: plaintext, anyone who reaches the endpoint reads it
};

// A blocklist entry from the config: static, never expires.
struct StaticBlockConfig {
  Prefix prefix;
  BlockDirection direction = BlockDirection::Source;
  BlockAction action = BlockAction::Drop;
  std::string reason;
  std::string path;  // "blocklist.entries[3]": names the entry in errors and in `sniffer block list`
};

struct BlocklistConfig {
  std::vector<Role> roles{Role::Wan};        // ingress of interfaces with these roles is checked
  bool monitor_only = false;                 // every entry counts, none drops
  bool record_dropped = true;                // dropped packets still yield a record (verdict blocked)
  std::uint32_t max_entries = 65536;         // per trie (family x source/destination, allowlist)
  std::uint32_t default_duration_s = 3600;   // a control-socket block without a duration
  std::uint32_t max_duration_s = 86400;      // the longest block the control socket accepts
  std::vector<StaticBlockConfig> entries;
  std::vector<Prefix> allow;                 // never blocked, as source or destination
  // The guard (include/sniffer/block_guard.hpp), for static and control
  // entries alike: no block broader than these prefix lengths...
  std::uint32_t min_prefix_v4 = kDefaultMinPrefixV4;  // 16: one organisation, never a carrier
  std::uint32_t min_prefix_v6 = kDefaultMinPrefixV6;  // 32: one provider's allocation at most
  // ...and none overlapping these (the management networks), besides the
  // sensor's own addresses and its control clients, always protected.
  std::vector<Prefix> protected_prefixes;    // "blocklist.protected"
  // The control socket's blocks, kept across restarts (block_state.hpp);
  // empty: not kept. Restart only.
  std::string state_file = "/var/lib/sniffer/blocklist.json";
};

// The control socket (blocklist commands from detectors): CURVE is required.
struct ControlConfig {
  std::string endpoint;  // empty: no control socket
  CurveConfig curve;
  std::uint32_t rate_limit_per_s = 5;  // commands per client key
  std::uint32_t rate_burst = 10;
};

struct Config {
  std::string sensor_id;  // defaults to the host name
  std::vector<InterfaceConfig> interfaces;
  CaptureConfig capture;
  FilterConfig filter;
  FlowConfig flows;
  PublishConfig publish;
  MetricsConfig metrics;
  BlocklistConfig blocklist;
  ControlConfig control;
  DropsConfig drops;
  std::string log_level = "info";
  std::string btf_path;  // empty: the kernel's /sys/kernel/btf/vmlinux
  std::string pin_path = "/sys/fs/bpf/sniffer";  // empty: maps are not pinned
  bool keep_pins = false;                         // leave the pins after a clean exit
};

// One validation problem: the JSON path ("interfaces[1].role") and why.
struct ConfigError {
  std::string path;
  std::string message;
};

// Thrown with every problem found, not just the first.
class ConfigInvalid : public std::runtime_error {
 public:
  explicit ConfigInvalid(std::vector<ConfigError> errors);
  const std::vector<ConfigError>& errors() const { return errors_; }

 private:
  std::vector<ConfigError> errors_;
};

// Every default, no interfaces (for a command line that lists them).
Config default_config();

// Parses a JSON document (comments allowed) strictly: a key twice in an
// object, a NUL byte or anything after the top-level value is an error.
// Then validate_config. Throws ConfigInvalid.
Config parse_config(const std::string& text);
Config parse_config_json(const nlohmann::json& doc);
// Throws ConfigInvalid, also when the file cannot be read (naming errno).
Config load_config_file(const std::string& path);

// Every rule on a whole Config, however it was built (the file, --interface
// overrides, code): interface names, one WAN interface, the interface count,
// hooks, capture sizes, port rules, endpoints, log level, pin path.
// Empty when the config is valid. (Key files are checked when read.)
std::vector<ConfigError> validate_config(const Config& config);
// Throws ConfigInvalid with the problems of validate_config, if any.
void check_config(const Config& config);
// One spelling per pin directory, lexically: "/sys/fs/bpf//a/./" and
// "/sys/fs/bpf/x/../a" are "/sys/fs/bpf/a" (no trailing slash; "" stays "").
// The reader stores pin_path so: the lock, the pins and every message then
// agree on it (two spellings were two locks over one directory).
std::string normal_pin_path(const std::string& pin_path);

// "NAME:ROLE:MODE" as given to --interface. Throws ConfigInvalid.
InterfaceConfig parse_interface_spec(const std::string& spec);
// Every --interface; a name given twice is refused. Throws ConfigInvalid.
std::vector<InterfaceConfig> parse_interface_specs(const std::vector<std::string>& specs);
// Each override replaces the config's interface of its name, or is added;
// then the whole config is validated (check_config). Throws ConfigInvalid.
void apply_interface_overrides(Config& config, const std::vector<InterfaceConfig>& overrides);

// Why a server socket could not bind `endpoint`, or empty when it can:
// tcp://ADDRESS:PORT where ADDRESS is *, an IPv4 address, [an IPv6 address]
// or an interface of this host (not a host name: ZeroMQ does not resolve
// names for bind), PORT 1-65535; ipc://PATH in a directory that exists.
std::string bind_endpoint_problem(const std::string& endpoint);

// Default hooks of a mode: gateway sees every forwarded packet at XDP ingress
// of both NICs; host-based also needs TC egress for the host's own replies.
std::vector<Hook> default_hooks(Mode mode);

// The blocklist's guard as the config defines it: blocklist.min_prefix_v4/_v6,
// blocklist.protected, and the address control.endpoint binds (when it is a
// literal IP address). The daemon adds the sensor's own addresses and the
// control clients it sees.
BlockGuard blocklist_guard(const BlocklistConfig& blocklist, const std::string& control_endpoint);

// The effective config with every default filled in.
nlohmann::json config_to_json(const Config& config);

const char* to_string(Role role);
const char* to_string(Mode mode);
const char* to_string(XdpMode mode);
const char* to_string(FlowAggregation aggregation);
// Flows on, and aggregated by the programs (flows.aggregation "kernel").
inline bool aggregates_in_kernel(const FlowConfig& f) {
  return f.enabled && f.aggregation == FlowAggregation::Kernel;
}
const char* to_string(Hook hook);
const char* to_string(TcAttach method);

}  // namespace sniffer
