// The rows of every config section but the blocklist (config_blocklist.cpp).
#include <net/if.h>

#include "sniffer/abi.h"
#include "sniffer/config_schema.hpp"
#include "sniffer/curve_auth.hpp"
#include "sniffer/error.hpp"
#include "sniffer/publish_bounds.hpp"

namespace sniffer {

using json = nlohmann::json;

namespace {

// A CURVE key file: required, not empty, and read now, so a missing file, a
// malformed key or a secret key file that group or other can read is a
// config error naming the file.
template <typename Load>
ConfigKey<CurveConfig> curve_file_key(const char* name, std::string CurveConfig::*member, const char* what,
                                      Load load, const char* help) {
  ConfigKey<CurveConfig> key = string_key(name, member, help);
  key.read = [=](ConfigReader& r, const json& v, const std::string& path, CurveConfig& c) {
    if (!r.string(v, path, c.*member)) return false;
    if ((c.*member).empty()) {
      r.fail(path, "must not be empty");
      return false;
    }
    try {
      (void)load(c.*member);
    } catch (const Error& e) {
      r.fail(path, e.what());
    }
    return true;
  };
  return std::move(key).required(std::string("missing: the path of ") + what).defaults_to("required with `publish.curve`");
}

ConfigKey<InterfaceConfig> interface_name_key() {
  ConfigKey<InterfaceConfig> key =
      string_key("name", &InterfaceConfig::name, "interface name (1-15 characters); must exist at start");
  key.read = [](ConfigReader& r, const json& v, const std::string& path, InterfaceConfig& i) {
    if (!r.string(v, path, i.name)) return false;
    if (i.name.empty() || i.name.size() >= IF_NAMESIZE) {
      r.fail(path, "an interface name has 1 to 15 characters, got \"" + i.name + "\"");
    }
    return true;
  };
  return std::move(key).required("missing (the interface name, e.g. \"eth1\")");
}

ConfigKey<InterfaceConfig> hooks_key() {
  std::string by_mode;
  for (const auto& mode : kModeNames) {
    std::string hooks;
    for (Hook h : default_hooks(mode.value)) hooks += std::string(hooks.empty() ? "" : ", ") + "\"" + to_string(h) + "\"";
    by_mode += std::string(by_mode.empty() ? "" : "; ") + mode.name + ": `[" + hooks + "]`";
  }
  return ConfigKey<InterfaceConfig>{
      "hooks", "array of " + choice_type(kHookNames),
      "where the programs attach; `xdp` and `tc_ingress` together are refused",
      [](ConfigReader& r, const json& v, const std::string& path, InterfaceConfig& i) {
        if (!v.is_array() || v.empty()) {
          r.fail(path, "expected a non-empty array of hooks (" + quoted_choices(kHookNames, ", ") + ")");
          return false;
        }
        return r.choices(v, path, kHookNames, "hooks", i.hooks);  // duplicates, conflicts: validate_config
      },
      [](const InterfaceConfig& i, json& o) {
        json hooks = json::array();
        for (Hook h : i.hooks) hooks.push_back(to_string(h));
        o["hooks"] = hooks;
      }}
      .defaults_to(by_mode);
}

ConfigKey<PublishConfig> publish_curve_key() {
  ConfigKey<PublishConfig> key{
      "curve", "object",
      "authenticated, encrypted transport (ZeroMQ CURVE); absent: plaintext (a `tcp://` endpoint logs a warning "
      "at start)",
      [](ConfigReader& r, const json& v, const std::string& path, PublishConfig& p) {
        CurveConfig curve;
        if (read_object(r, v, path, curve_table(), curve) == ObjectRead::NotAnObject) return false;
        p.curve = curve;
        return true;
      },
      [](const PublishConfig& p, json& o) {
        if (p.curve) o["curve"] = write_object(curve_table(), *p.curve);  // absent: plaintext
      }};
  key.default_text = "absent";
  key.nested = [](const std::string& path, std::vector<ReferenceLine>& lines) {
    describe(curve_table(), CurveConfig{}, path, lines);
  };
  return key;
}

ConfigKey<ControlConfig> control_curve_key() {
  return ConfigKey<ControlConfig>{
      "curve", "`{secret_key_file, authorized_keys_file}`",
      "as `publish.curve`: the sensor's key for this socket and the detectors allowed to send commands",
      [](ConfigReader& r, const json& v, const std::string& path, ControlConfig& c) {
        if (c.endpoint.empty()) return true;  // no control socket: nothing to read (missing: validate_config)
        return read_object(r, v, path, curve_table(), c.curve) != ObjectRead::NotAnObject;
      },
      [](const ControlConfig& c, json& o) {
        if (!c.endpoint.empty()) o["curve"] = write_object(curve_table(), c.curve);
      }}
      .defaults_to("required with `control.endpoint`");
}

bool valid_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= listen.size()) return false;
  const std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoul(port) <= 65535;
}

ConfigKey<MetricsConfig> listen_key() {
  ConfigKey<MetricsConfig> key =
      string_key("listen", &MetricsConfig::listen, "Prometheus endpoint (`/metrics`); empty disables it");
  key.read = [](ConfigReader& r, const json& v, const std::string& path, MetricsConfig& m) {
    if (!r.string(v, path, m.listen)) return false;
    if (!m.listen.empty() && !valid_listen(m.listen)) {
      r.fail(path, "\"" + m.listen + "\" is not HOST:PORT (e.g. 127.0.0.1:9750; empty disables)");
    }
    return true;
  };
  return std::move(key).typed("string `HOST:PORT`");
}

}  // namespace

const ConfigTable<CurveConfig>& curve_table() {
  static const ConfigTable<CurveConfig> table{{
      curve_file_key("secret_key_file", &CurveConfig::secret_key_file,
                     "this sensor's secret key file (sniffer keygen --out PREFIX)",
                     [](const std::string& file) { return load_secret_key_file(file); },
                     "this sensor's Z85 secret key (`sniffer keygen`); refused if group or other may read or write "
                     "it (`chmod 600`)"),
      curve_file_key("authorized_keys_file", &CurveConfig::authorized_keys_file,
                     "the file of the client public keys allowed to connect, one a line",
                     [](const std::string& file) { return load_authorized_keys(file); },
                     "public keys of the subscribers allowed to connect, one Z85 key a line, `#` comments; any "
                     "other key is refused and counted; refused if another user than root and the sensor's owns it "
                     "or a directory on its way from `/` (links' targets included), or if group or other may write "
                     "it or such a directory (unless sticky) (`chown root`, `chmod go-w`)"),
  }};
  return table;
}

const ConfigTable<InterfaceConfig>& interface_table() {
  static const ConfigTable<InterfaceConfig> table{
      {
          interface_name_key(),
          choice_key("role", &InterfaceConfig::role, kRoleNames,
                     "written to `iface_configs.is_wan_facing` and every event")
              .required("missing (" + quoted_choices(kRoleNames) + ")"),
          choice_key("mode", &InterfaceConfig::mode, kModeNames,
                     "written to `iface_configs.mode`; chooses the default hooks")
              .required("missing (" + quoted_choices(kModeNames) + ")"),
          choice_key("xdp_mode", &InterfaceConfig::xdp_mode, kXdpModeNames,
                     "XDP attach mode; auto tries native, then generic"),
          hooks_key(),
      },
      [](ConfigReader&, const std::string&, InterfaceConfig& i) {
        if (i.hooks.empty()) i.hooks = default_hooks(i.mode);
      }};
  return table;
}

namespace {

// An integer, or "auto" (the default): a sixteenth of the ring (wakeup_bytes()).
ConfigKey<CaptureConfig> wakeup_bytes_key() {
  constexpr std::uint64_t kMax = 1u << 30;
  return ConfigKey<CaptureConfig>{
      "wakeup_bytes", integer_type(0, kMax) + ", < ring size, or `\"auto\"`",
      "queued bytes that wake the daemon (0: wake per record; `\"auto\"`: `ring_buffer_bytes` / 16)",
      [=](ConfigReader& r, const json& v, const std::string& path, CaptureConfig& c) {
        if (v.is_string() && v.get<std::string>() == "auto") {
          c.wakeup_bytes.reset();
          return true;
        }
        if (!v.is_number_integer()) {
          r.fail(path, std::string("expected an unsigned integer or \"auto\", got ") +
                           (v.is_string() ? v.dump() : v.type_name()));
          return false;
        }
        std::uint64_t n = 0;
        if (!r.uint(v, path, 0, kMax, n)) return false;
        c.wakeup_bytes = static_cast<std::uint32_t>(n);
        return true;
      },
      [](const CaptureConfig& c, json& o) {
        o["wakeup_bytes"] = c.wakeup_bytes ? json(*c.wakeup_bytes) : json("auto");
      }};
}

const ConfigTable<CaptureConfig>& capture_table() {
  static const ConfigTable<CaptureConfig> table{{
      uint_key("ring_buffer_bytes", &CaptureConfig::ring_buffer_bytes, 4096, 1u << 30,
               "size of the `events` ring buffer")
          .typed(integer_type(4096, 1u << 30) + ", power of two"),
      uint_key("payload_bytes", &CaptureConfig::payload_bytes, 0, SNIFFER_MAX_PAYLOAD_BYTES,
               "L4 payload bytes copied into each event (`payload`)"),
      wakeup_bytes_key(),
      uint_key("poll_interval_ms", &CaptureConfig::poll_interval_ms, 1, 1000,
               "the daemon reads the ring at least this often"),
      uint_key("workers", &CaptureConfig::workers, 0, SNIFFER_MAX_WORKERS,
               "threads, each with its own ring, flow table shard and batches; 0: one per receive queue of "
               "the interfaces, at most one per CPU and 8"),
      choice_key("tc_attach", &CaptureConfig::tc_attach, kTcAttachNames,
                 "TC attach method: tcx links (Linux 6.6+), or a clsact qdisc and filter"),
      uint_key("full_packet_ring_bytes", &CaptureConfig::full_packet_ring_bytes, 4096, 1u << 30,
               "size of the `captures` ring buffer (`sniffer capture`)")
          .typed(integer_type(4096, 1u << 30) + ", power of two"),
      string_key("full_packet_directory", &CaptureConfig::full_packet_directory,
                 "directory of the pcapng files `sniffer capture` writes"),
      uint_key("keep_free_bytes", &CaptureConfig::keep_free_bytes, 0, std::uint64_t{1} << 50,
               "free space captures leave on that directory's filesystem: none starts with less, a running one "
               "stops (its file kept) when less is left; 0: no bound"),
  }};
  return table;
}

const ConfigTable<FilterConfig>& filter_table() {
  static const ConfigTable<FilterConfig> table{{
      choice_key("default_action", &FilterConfig::default_capture, kFilterActionNames,
                 "for packets no port rule matches (and packets without ports)"),
      ports_key("include_ports", &FilterConfig::include_ports,
                "a packet with this source or destination port is captured"),
      ports_key("exclude_ports", &FilterConfig::exclude_ports,
                "skipped unless an include rule also matches (include wins)"),
  }};
  return table;
}

const ConfigTable<FlowConfig>& flows_table() {
  static const ConfigTable<FlowConfig> table{{
      bool_key("enabled", &FlowConfig::enabled, "build flow records (topic `flow`, or CSV offline)"),
      uint_key("max_flows", &FlowConfig::max_flows, 1, 1u << 24,
               "table limit; beyond it the least recently seen flow is evicted (counted)"),
      uint_key("idle_timeout_ms", &FlowConfig::idle_timeout_ms, 1, 86400000,
               "a flow without packets for this long ends"),
      uint_key("active_timeout_ms", &FlowConfig::active_timeout_ms, 1000, 86400000,
               "a long flow is exported as a cumulative update this often"),
      uint_key("tcp_close_grace_ms", &FlowConfig::tcp_close_grace_ms, 0, 86400000,
               "after FIN from both sides or a RST, the flow waits this long for its last packets"),
      uint_key("activity_timeout_ms", &FlowConfig::activity_timeout_ms, 1, 86400000,
               "a gap longer than this ends an active period and starts an idle one"),
      choice_key("aggregation", &FlowConfig::aggregation, kFlowAggregationNames,
                 "where flows are aggregated: the daemon's table from every packet record, or the programs' "
                 "`flows` map (`max_flows` x 768 bytes of kernel memory; see \"Kernel flow aggregation\"); "
                 "changes need a restart"),
      uint_key("packet_sample_one_in", &FlowConfig::packet_sample_one_in, 0, 1u << 30,
               "kernel aggregation with `publish.packet_events`: 1 in N packets also yields a packet event "
               "(0: none, 1: every packet)"),
      ports_key("packet_ports", &FlowConfig::packet_ports,
                "kernel aggregation with `publish.packet_events`: a packet with one of these source or destination "
                "ports always yields a packet event (for payload detectors), whatever the sampling; restart only"),
  }};
  return table;
}

const ConfigTable<PublishConfig>& publish_table() {
  static const ConfigTable<PublishConfig> table{{
      string_key("endpoint", &PublishConfig::endpoint, "ZeroMQ endpoint the daemon binds (`tcp://`, `ipc://`)"),
      bool_key("packet_events", &PublishConfig::packet_events,
               "publish per-packet events (topic `pkt`); flows are unaffected"),
      uint_key("batch_max_events", &PublishConfig::batch_max_events, 1, kMaxBatchEvents,
               "events per message at most"),
      uint_key("batch_max_latency_ms", &PublishConfig::batch_max_latency_ms, 1, 60000,
               "a partial batch is sent after this long"),
      uint_key("send_hwm", &PublishConfig::send_hwm, 1, 1000000,
               "messages queued per subscriber before batches are dropped (counted)"),
      choice_key("slow_subscriber", &PublishConfig::slow_subscriber, kSlowSubscriberNames,
                 "a subscriber at `send_hwm`: `isolate` it (it loses the batch, the others get it) or "
                 "`all_or_none` (nobody gets it: one stuck subscriber stops the stream for all); see "
                 "\"Slow subscribers\""),
      uint_key("community_id_seed", &PublishConfig::community_id_seed, 0, 65535,
               "seed of the Community ID (v1) on every packet event, flow record and CSV row; other tools "
               "(Zeek, Suricata) must use the same seed for the IDs to match"),
      publish_curve_key(),
  }};
  return table;
}

const ConfigTable<ControlConfig>& control_table() {
  static const ConfigTable<ControlConfig> table{{
      string_key("endpoint", &ControlConfig::endpoint,
                 "the control socket (ZeroMQ REP) for `sniffer block`; empty: none"),
      control_curve_key(),
      uint_key("rate_limit_per_s", &ControlConfig::rate_limit_per_s, 1, 1000,
               "commands a second per client key; beyond, the reply is `RATE_LIMITED`"),
      uint_key("rate_burst", &ControlConfig::rate_burst, 1, 10000, "bursts of at most this many commands"),
  }};
  return table;
}

// Names only: whether this kernel has them is checked at start (kernel_drops).
ConfigKey<DropsConfig> reasons_ignored_key() {
  return {"reasons_ignored", "array of strings",
          "drop reasons (`NOT_SPECIFIED`, ...: `enum skb_drop_reason` without its `SKB_DROP_REASON_` prefix) "
          "counted as `ignored`, not by name; an unknown name stops the start",
          [](ConfigReader& r, const json& v, const std::string& path, DropsConfig& d) {
            if (!v.is_array()) {
              r.fail(path, "expected an array of drop reason names");
              return false;
            }
            d.reasons_ignored.clear();
            for (std::size_t i = 0; i < v.size(); ++i) {
              std::string name;
              if (r.string(v[i], ConfigReader::item(path, i), name)) d.reasons_ignored.push_back(name);
            }
            return true;
          },
          [](const DropsConfig& d, json& o) { o["reasons_ignored"] = d.reasons_ignored; }};
}

const ConfigTable<DropsConfig>& drops_table() {
  static const ConfigTable<DropsConfig> table{{
      bool_key("enabled", &DropsConfig::enabled,
               "count the packets the kernel drops on the monitored interfaces, by reason (the `skb:kfree_skb` "
               "tracepoint); a kernel without it is said once in the log and the feature is off"),
      reasons_ignored_key(),
  }};
  return table;
}

const ConfigTable<MetricsConfig>& metrics_table() {
  static const ConfigTable<MetricsConfig> table{{
      listen_key(),
      uint_key("log_interval_s", &MetricsConfig::log_interval_s, 0, 86400,
               "one-line counter summary in the log this often (0: never)"),
      uint_key("stats_interval_s", &MetricsConfig::stats_interval_s, 0, 86400,
               "a `StatsReport` on topic `stats` this often (0: never)"),
  }};
  return table;
}

ConfigKey<Config> interfaces_key() {
  ConfigKey<Config> key{
      "interfaces", "array",
      "the monitored interfaces, at least one, each name once, at most " + std::to_string(SNIFFER_MAX_IFACES - 1) +
          ", at most one with role `wan`",
      [](ConfigReader& r, const json& v, const std::string& path, Config& c) {
        if (!v.is_array() || v.empty()) {
          r.fail(path, "expected a non-empty array of interfaces");
          return false;
        }
        for (std::size_t i = 0; i < v.size(); ++i) {
          InterfaceConfig iface;
          read_object(r, v[i], ConfigReader::item(path, i), interface_table(), iface);
          c.interfaces.push_back(std::move(iface));
        }
        return true;  // names once, one WAN interface, the count, hooks: validate_config
      },
      [](const Config& c, json& o) {
        json list = json::array();
        for (const auto& iface : c.interfaces) list.push_back(write_object(interface_table(), iface));
        o["interfaces"] = list;
      }};
  key.nested = [](const std::string& path, std::vector<ReferenceLine>& lines) {
    describe(interface_table(), InterfaceConfig{}, path + "[]", lines);
  };
  return std::move(key).required("missing: list at least one interface ({\"name\", \"role\", \"mode\"})");
}

}  // namespace

const ConfigTable<Config>& config_table() {
  static const ConfigTable<Config> table{{
      string_key("sensor_id", &Config::sensor_id, "identifies the sensor in every batch").defaults_to("host name"),
      interfaces_key(),
      section_key("capture", &Config::capture, capture_table()),
      section_key("filter", &Config::filter, filter_table()),
      section_key("flows", &Config::flows, flows_table()),
      section_key("publish", &Config::publish, publish_table()),
      section_key("blocklist", &Config::blocklist, blocklist_table()),
      section_key("control", &Config::control, control_table()),
      section_key("metrics", &Config::metrics, metrics_table()),
      section_key("drops", &Config::drops, drops_table()),
      string_key("log_level", &Config::log_level, "log verbosity (`-v` lowers it to debug)")
          .typed("`\"trace\"`..`\"error\"`"),
      string_key("btf_path", &Config::btf_path, "a BTF file for kernels without `/sys/kernel/btf/vmlinux`"),
      string_key("pin_path", &Config::pin_path,
                 "the maps are pinned here (`bpftool map dump pinned /sys/fs/bpf/sniffer/stats`); bpffs is mounted "
                 "if absent; one daemon per pin path (a lock under `/run/sniffer`); pins left by a killed run are "
                 "replaced; empty disables pinning (and the lock)")
          .typed("string under `/sys/fs/bpf/`"),
      bool_key("keep_pins", &Config::keep_pins, "leave the pins after a clean exit"),
  }};
  return table;
}

}  // namespace sniffer
