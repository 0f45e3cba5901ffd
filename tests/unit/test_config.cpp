// Config validation: every error names its JSON path and reason.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config_problems.hpp"
#include "sniffer/abi.h"
#include "sniffer/config.hpp"
#include "sniffer/curve_auth.hpp"

namespace sniffer {
namespace {

using test::has_problem;
using test::kMinimal;
using test::problems;

TEST(Config, MinimalConfigGetsDocumentedDefaults) {
  Config c = parse_config(kMinimal);
  ASSERT_EQ(c.interfaces.size(), 1u);
  EXPECT_EQ(c.interfaces[0].name, "eth0");
  EXPECT_EQ(c.interfaces[0].role, Role::Wan);
  EXPECT_EQ(c.interfaces[0].mode, Mode::Gateway);
  EXPECT_EQ(c.interfaces[0].xdp_mode, XdpMode::Auto);
  EXPECT_EQ(c.interfaces[0].hooks, std::vector<Hook>{Hook::XdpIngress});
  EXPECT_EQ(c.capture.ring_buffer_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(c.capture.payload_bytes, 0u);
  EXPECT_EQ(c.capture.tc_attach, TcAttach::Auto);
  EXPECT_EQ(c.flows.aggregation, FlowAggregation::Userspace);
  EXPECT_EQ(c.flows.packet_sample_one_in, 100u);
  EXPECT_TRUE(c.filter.default_capture);
  EXPECT_EQ(c.publish.endpoint, "tcp://127.0.0.1:5556");
  EXPECT_EQ(c.publish.batch_max_events, 256u);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.sensor_id.empty());  // the host name
}

TEST(Config, HostBasedModeAddsTcEgressByDefault) {
  Config c = parse_config(R"({"interfaces": [{"name": "eth0", "role": "lan", "mode": "host-based"}]})");
  EXPECT_EQ(c.interfaces[0].hooks, (std::vector<Hook>{Hook::XdpIngress, Hook::TcEgress}));
}

TEST(Config, EveryKeyIsRead) {
  Config c = parse_config(R"({
    // comments are allowed
    "sensor_id": "gw-1",
    "interfaces": [
      {"name": "wan0", "role": "wan", "mode": "host-based", "xdp_mode": "generic", "hooks": ["tc_ingress", "tc_egress"]},
      {"name": "lan0", "role": "lan", "mode": "gateway", "xdp_mode": "native"}
    ],
    "capture": {"ring_buffer_bytes": 1048576, "payload_bytes": 128, "wakeup_bytes": 4096, "poll_interval_ms": 5,
                "workers": 4, "tc_attach": "clsact"},
    "filter": {"default_action": "skip", "include_ports": [53, 443], "exclude_ports": [22]},
    "publish": {"endpoint": "ipc:///run/sniffer.sock", "batch_max_events": 64, "batch_max_latency_ms": 10,
                "send_hwm": 50},
    "flows": {"enabled": false, "max_flows": 10, "idle_timeout_ms": 1000, "active_timeout_ms": 2000,
              "tcp_close_grace_ms": 0, "activity_timeout_ms": 50, "aggregation": "kernel",
              "packet_sample_one_in": 7, "packet_ports": [80, 443]},
    "metrics": {"listen": "[::1]:9000", "log_interval_s": 0, "stats_interval_s": 5},
    "log_level": "debug",
    "btf_path": "/boot/vmlinux.btf",
    "pin_path": "/sys/fs/bpf/gw1",
    "keep_pins": true
  })");
  EXPECT_EQ(c.sensor_id, "gw-1");
  EXPECT_EQ(c.interfaces[0].xdp_mode, XdpMode::Generic);
  EXPECT_EQ(c.interfaces[0].hooks, (std::vector<Hook>{Hook::TcIngress, Hook::TcEgress}));
  EXPECT_EQ(c.interfaces[1].xdp_mode, XdpMode::Native);
  EXPECT_EQ(c.capture.ring_buffer_bytes, 1048576u);
  EXPECT_EQ(c.capture.payload_bytes, 128u);
  EXPECT_EQ(c.capture.wakeup_bytes, 4096u);
  EXPECT_EQ(c.capture.poll_interval_ms, 5u);
  EXPECT_EQ(c.capture.workers, 4u);
  EXPECT_EQ(c.capture.tc_attach, TcAttach::Clsact);
  EXPECT_FALSE(c.filter.default_capture);
  EXPECT_EQ(c.filter.include_ports, (std::vector<std::uint16_t>{53, 443}));
  EXPECT_EQ(c.filter.exclude_ports, (std::vector<std::uint16_t>{22}));
  EXPECT_EQ(c.publish.endpoint, "ipc:///run/sniffer.sock");
  EXPECT_EQ(c.publish.batch_max_events, 64u);
  EXPECT_EQ(c.publish.batch_max_latency_ms, 10u);
  EXPECT_EQ(c.publish.send_hwm, 50);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.btf_path, "/boot/vmlinux.btf");
  EXPECT_FALSE(c.flows.enabled);
  EXPECT_EQ(c.flows.max_flows, 10u);
  EXPECT_EQ(c.flows.idle_timeout_ms, 1000u);
  EXPECT_EQ(c.flows.active_timeout_ms, 2000u);
  EXPECT_EQ(c.flows.tcp_close_grace_ms, 0u);
  EXPECT_EQ(c.flows.activity_timeout_ms, 50u);
  EXPECT_EQ(c.flows.aggregation, FlowAggregation::Kernel);
  EXPECT_EQ(c.flows.packet_sample_one_in, 7u);
  EXPECT_EQ(c.flows.packet_ports, (std::vector<std::uint16_t>{80, 443}));
  EXPECT_EQ(c.metrics.listen, "[::1]:9000");
  EXPECT_EQ(c.metrics.log_interval_s, 0u);
  EXPECT_EQ(c.metrics.stats_interval_s, 5u);
  EXPECT_EQ(c.pin_path, "/sys/fs/bpf/gw1");
  EXPECT_TRUE(c.keep_pins);
  // The effective config round-trips.
  Config again = parse_config_json(config_to_json(c));
  EXPECT_EQ(config_to_json(again), config_to_json(c));
}

TEST(Config, UnknownKeysAreNamedWithTheirPath) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "rol": "wan", "mode": "gateway"}], "captur": {}})");
  EXPECT_TRUE(has_problem(p, "interfaces[0].rol: unknown key"));
  EXPECT_TRUE(has_problem(p, "interfaces[0].role: missing"));
  EXPECT_TRUE(has_problem(p, "captur: unknown key"));
  EXPECT_EQ(p.size(), 3u);
}

TEST(Config, WrongTypesAndValues) {
  auto p = problems(R"({"interfaces": [{"name": 7, "role": "dmz", "mode": "gateway", "xdp_mode": "fast"}],
                        "capture": {"payload_bytes": "64", "ring_buffer_bytes": -1},
                        "publish": {"batch_max_events": 0, "community_id_seed": 65536},
                        "flows": {"aggregation": "ebpf", "packet_sample_one_in": -1, "packet_ports": [0]}})");
  EXPECT_TRUE(has_problem(p, "interfaces[0].name: expected a string, got number"));
  EXPECT_TRUE(has_problem(p, "flows.aggregation: unknown value \"ebpf\" (expected one of kernel, userspace)"));
  EXPECT_TRUE(has_problem(p, "flows.packet_sample_one_in: must be between 0 and 1073741824, got -1"));
  EXPECT_TRUE(has_problem(p, "flows.packet_ports[0]: expected a port number between 1 and 65535, got 0"));
  EXPECT_TRUE(has_problem(p, "interfaces[0].role: unknown value \"dmz\" (expected one of lan, wan)"));
  EXPECT_TRUE(has_problem(p, "interfaces[0].xdp_mode: unknown value \"fast\""));
  EXPECT_TRUE(has_problem(p, "capture.payload_bytes: expected an unsigned integer, got string"));
  EXPECT_TRUE(has_problem(p, "capture.ring_buffer_bytes: must be between 4096 and 1073741824, got -1"));
  EXPECT_TRUE(has_problem(p, "publish.batch_max_events: must be between 1 and 65536, got 0"));
  EXPECT_TRUE(has_problem(p, "publish.community_id_seed: must be between 0 and 65535, got 65536"));
}

TEST(Config, OutOfRangeValues) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "capture": {"payload_bytes": 513, "ring_buffer_bytes": 100000, "workers": 17},
                        "filter": {"include_ports": [0, 70000, "http"]}})");
  EXPECT_TRUE(has_problem(p, "capture.payload_bytes: must be between 0 and 512, got 513"));
  EXPECT_TRUE(has_problem(p, "capture.workers: must be between 0 and 16, got 17"));
  EXPECT_TRUE(has_problem(p, "capture.ring_buffer_bytes: must be a power of two"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[0]: expected a port number between 1 and 65535, got 0"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[1]: expected a port number"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[2]: expected a port number"));
}

// "auto" (and absent) wake the daemon at a sixteenth of the ring, whatever
// its size; a number is taken as given and must stay below the ring.
TEST(Config, WakeupBytesDefaultsToASixteenthOfTheRing) {
  Config absent = parse_config(kMinimal);
  EXPECT_FALSE(absent.capture.wakeup_bytes.has_value());
  EXPECT_EQ(wakeup_bytes(absent.capture), 1024u * 1024);
  EXPECT_EQ(config_to_json(absent)["capture"]["wakeup_bytes"], "auto");

  Config small = parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                                   "capture": {"ring_buffer_bytes": 4096, "wakeup_bytes": "auto"}})");
  EXPECT_EQ(wakeup_bytes(small.capture), 256u);

  Config given = parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                                   "capture": {"ring_buffer_bytes": 4096, "wakeup_bytes": 0}})");
  EXPECT_EQ(wakeup_bytes(given.capture), 0u);
  EXPECT_EQ(config_to_json(given)["capture"]["wakeup_bytes"], 0);

  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "capture": {"ring_buffer_bytes": 65536, "wakeup_bytes": 65536}})");
  EXPECT_TRUE(has_problem(p, "capture.wakeup_bytes: must be smaller than capture.ring_buffer_bytes (65536)"));
  p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                   "capture": {"wakeup_bytes": "1MiB"}})");
  EXPECT_TRUE(has_problem(p, R"(capture.wakeup_bytes: expected an unsigned integer or "auto", got "1MiB")"));
  p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                   "capture": {"wakeup_bytes": true}})");
  EXPECT_TRUE(has_problem(p, R"(capture.wakeup_bytes: expected an unsigned integer or "auto", got boolean)"));
}

TEST(Config, InterfacesMustBeListedOnceAndExist) {
  EXPECT_TRUE(has_problem(problems("{}"), "interfaces: missing"));
  EXPECT_TRUE(has_problem(problems(R"({"interfaces": []})"), "interfaces: expected a non-empty array"));
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"},
                                       {"name": "eth0", "role": "lan", "mode": "gateway"}]})");
  EXPECT_TRUE(has_problem(p, "interfaces[1].name: interface \"eth0\" is already listed at interfaces[0]"));
  p = problems(R"({"interfaces": [{"name": "a-name-longer-than-15", "role": "wan", "mode": "gateway"}]})");
  EXPECT_TRUE(has_problem(p, "interfaces[0].name: an interface name has 1 to 15 characters"));
}

TEST(Config, OneWanInterfaceAtMost) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"},
                                       {"name": "eth1", "role": "lan", "mode": "gateway"},
                                       {"name": "eth2", "role": "lan", "mode": "gateway"},
                                       {"name": "eth3", "role": "wan", "mode": "gateway"}]})");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(has_problem(p, "interfaces[3].role: \"wan\" is already the role of interfaces[0]"));
}

TEST(Config, HookConflictsAreRejected) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway",
                                        "hooks": ["xdp", "tc_ingress", "xdp"]}]})");
  EXPECT_TRUE(has_problem(p, "interfaces[0].hooks: hook \"xdp\" listed twice"));
  EXPECT_TRUE(has_problem(p, "interfaces[0].hooks: \"xdp\" and \"tc_ingress\" both see ingress"));
  p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway", "hooks": []}]})");
  EXPECT_TRUE(has_problem(p, "interfaces[0].hooks: expected a non-empty array"));
}

TEST(Config, EndpointFilterAndLogLevel) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "publish": {"endpoint": "localhost:5556"},
                        "filter": {"include_ports": [53], "exclude_ports": [53], "default_action": "drop"},
                        "log_level": "loud"})");
  EXPECT_TRUE(has_problem(p, "publish.endpoint: \"localhost:5556\" is not a ZeroMQ endpoint"));
  EXPECT_TRUE(has_problem(p, "filter.exclude_ports: port 53 is also in include_ports"));
  EXPECT_TRUE(has_problem(p, "filter.default_action: unknown value \"drop\""));
  EXPECT_TRUE(has_problem(p, "log_level: unknown level \"loud\""));
}

TEST(Config, PinPathMustBeOnBpffs) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}], "pin_path": "/tmp/x",
                        "keep_pins": "yes"})");
  EXPECT_TRUE(has_problem(p, "pin_path: \"/tmp/x\" is not under /sys/fs/bpf/"));
  EXPECT_TRUE(has_problem(p, "keep_pins: expected true or false, got string"));
}

// Every spelling of one pin directory is read as one (the lock, the pins and
// the messages use it); ".." cannot leave /sys/fs/bpf, nor name its root.
TEST(Config, PinPathIsReadInItsNormalForm) {
  auto pin = [](const std::string& path) {
    return parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}], "pin_path": ")" +
                        path + "\"}").pin_path;
  };
  EXPECT_EQ(pin("/sys/fs/bpf/redteam-a"), "/sys/fs/bpf/redteam-a");
  EXPECT_EQ(pin("/sys/fs/bpf//redteam-a"), "/sys/fs/bpf/redteam-a");
  EXPECT_EQ(pin("/sys/fs/bpf/./redteam-a"), "/sys/fs/bpf/redteam-a");
  EXPECT_EQ(pin("/sys/fs/bpf/redteam-a/"), "/sys/fs/bpf/redteam-a");
  EXPECT_EQ(pin("/sys/fs/bpf/x/../redteam-a/."), "/sys/fs/bpf/redteam-a");
  EXPECT_EQ(pin(""), "");  // pinning off
  const std::string head = R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}], "pin_path": )";
  EXPECT_TRUE(has_problem(problems(head + R"("/sys/fs/bpf/../../../etc"})"),
                          "pin_path: \"/sys/fs/bpf/../../../etc\" (that is \"/etc\") is not under /sys/fs/bpf/"));
  EXPECT_TRUE(has_problem(problems(head + R"("/sys/fs/bpf/a/../.."})"),
                          "pin_path: \"/sys/fs/bpf/a/../..\" (that is \"/sys/fs\") is not under /sys/fs/bpf/"));
  // bpffs's root: a clean exit would remove every other program's pins.
  EXPECT_TRUE(has_problem(problems(head + R"("/sys/fs/bpf//"})"),
                          "pin_path: \"/sys/fs/bpf//\" (that is \"/sys/fs/bpf\") is not under /sys/fs/bpf/"));
  EXPECT_TRUE(has_problem(problems(head + R"("/sys/fs/bpf/."})"),
                          "pin_path: \"/sys/fs/bpf/.\" (that is \"/sys/fs/bpf\") is not under /sys/fs/bpf/"));
}

TEST(Config, SyntaxErrorsSayWhere) {
  auto p = problems("{\"interfaces\": [\n  {\"name\": \"eth0\",, }\n]}");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("not valid JSON"), std::string::npos);
  EXPECT_NE(p[0].find("line 2"), std::string::npos) << p[0];
}

TEST(Config, NumbersBeyondRangeAreAConfigErrorNotACrash) {
  // Found by fuzz_config: nlohmann throws out_of_range, not parse_error, here.
  auto p = problems(R"({"interfaces": [], "capture": {"payload_bytes": 1e9999}})");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("not valid JSON"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("number overflow"), std::string::npos) << p[0];
}

TEST(Config, MissingFileIsNamed) {
  try {
    load_config_file("/nonexistent/sniffer.json");
    FAIL();
  } catch (const ConfigInvalid& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/sniffer.json"), std::string::npos);
  }
}

TEST(Config, InterfaceSpecFromTheCommandLine) {
  InterfaceConfig i = parse_interface_spec("eth1:lan:host-based");
  EXPECT_EQ(i.name, "eth1");
  EXPECT_EQ(i.role, Role::Lan);
  EXPECT_EQ(i.mode, Mode::HostBased);
  EXPECT_EQ(i.hooks, default_hooks(Mode::HostBased));
  EXPECT_THROW(parse_interface_spec("eth1:lan"), ConfigInvalid);
  try {
    parse_interface_spec("eth1:inside:gateway");
    FAIL();
  } catch (const ConfigInvalid& e) {
    EXPECT_NE(std::string(e.what()).find("--interface eth1:inside:gateway.role: unknown value \"inside\""),
              std::string::npos)
        << e.what();
  }
}

TEST(Config, ShippedExamplesParse) {
  for (const char* name : {"sniffer.json", "lab.json"}) {
    std::string path = std::string(SNIFFER_SOURCE_DIR) + "/config/" + name;
    try {
      load_config_file(path);
    } catch (const ConfigInvalid& e) {
      // lab.json publishes in /run/sniffer, which systemd's RuntimeDirectory=
      // creates: on a host without it, that is the one problem.
      bool no_run_dir = std::string(name) == "lab.json" && !std::filesystem::exists("/run/sniffer") &&
                        e.errors().size() == 1 && e.errors()[0].path == "publish.endpoint" &&
                        e.errors()[0].message.find("directory \"/run/sniffer\" does not exist") != std::string::npos;
      EXPECT_TRUE(no_run_dir) << path << ": " << e.what();
    }
  }
}

// --- One validation for every way in: the file, --interface, code. ---

const char* kTwoInterfaces = R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"},
                                                 {"name": "eth1", "role": "lan", "mode": "gateway"}],
                                 "publish": {"endpoint": "ipc:///tmp/sniffer-test.sock"}})";

std::vector<std::string> override_problems(Config c, const std::vector<std::string>& specs) {
  try {
    apply_interface_overrides(c, parse_interface_specs(specs));
  } catch (const ConfigInvalid& e) {
    std::vector<std::string> out;
    for (const auto& err : e.errors()) out.push_back(err.path + ": " + err.message);
    return out;
  }
  return {};
}

TEST(ConfigOverrides, ASecondWanInterfaceIsRefusedFromTheCommandLineToo) {
  Config c = parse_config(kTwoInterfaces);
  auto p = override_problems(c, {"eth9:wan:gateway"});
  ASSERT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "--interface eth9:wan:gateway.role: \"wan\" is already the role of interfaces[0] "
                             "(\"eth0\"): a sensor has one WAN interface"))
      << p[0];
  // Replacing the WAN interface itself, or the LAN one turning WAN after the WAN one turned LAN, is fine.
  EXPECT_EQ(override_problems(c, {"eth0:wan:host-based"}).size(), 0u);
  EXPECT_EQ(override_problems(c, {"eth0:lan:gateway", "eth1:wan:gateway"}).size(), 0u);
  // Two WAN interfaces both from the command line, with no config file.
  p = override_problems(default_config(), {"a0:wan:gateway", "b0:wan:gateway"});
  EXPECT_TRUE(has_problem(p, "--interface b0:wan:gateway.role: \"wan\" is already the role of --interface "
                             "a0:wan:gateway"))
      << ::testing::PrintToString(p);
}

TEST(ConfigOverrides, AnInterfaceNamedTwiceOnTheCommandLineIsRefused) {
  auto p = override_problems(default_config(), {"eth0:wan:gateway", "eth0:lan:gateway"});
  EXPECT_TRUE(has_problem(p, "--interface eth0:lan:gateway.name: interface \"eth0\" is already given by "
                             "--interface eth0:wan:gateway"))
      << ::testing::PrintToString(p);
}

TEST(ConfigOverrides, TheInterfaceCountIsCheckedAfterOverrides) {
  std::vector<std::string> specs;
  for (int i = 0; i < SNIFFER_MAX_IFACES; ++i) specs.push_back("lan" + std::to_string(i) + ":lan:gateway");
  auto p = override_problems(default_config(), specs);
  EXPECT_TRUE(has_problem(p, "interfaces: at most 63 interfaces, got 64")) << ::testing::PrintToString(p);
}

TEST(ConfigValidate, AConfigBuiltInCodeGetsTheFileRules) {
  Config c = default_config();
  InterfaceConfig eth0{.name = "eth0", .role = Role::Wan, .hooks = {Hook::XdpIngress, Hook::TcIngress}};
  InterfaceConfig eth1{.name = "eth1", .role = Role::Wan, .hooks = {}};
  c.interfaces = {eth0, eth1, eth0};
  c.log_level = "loud";
  c.capture.ring_buffer_bytes = 3 * 4096;
  std::vector<std::string> p;
  for (const auto& e : validate_config(c)) p.push_back(e.path + ": " + e.message);
  EXPECT_TRUE(has_problem(p, "interfaces[0].hooks: \"xdp\" and \"tc_ingress\" both see ingress"));
  EXPECT_TRUE(has_problem(p, "interfaces[1].role: \"wan\" is already the role of interfaces[0]"));
  EXPECT_TRUE(has_problem(p, "interfaces[1].hooks: no hooks"));
  EXPECT_TRUE(has_problem(p, "interfaces[2].name: interface \"eth0\" is already listed at interfaces[0]"));
  EXPECT_TRUE(has_problem(p, "log_level: unknown level \"loud\""));
  EXPECT_TRUE(has_problem(p, "capture.ring_buffer_bytes: must be a power of two"));
  EXPECT_THROW(check_config(c), ConfigInvalid);
}

// --- The JSON reader is strict. ---

// Arrays and objects nest at most 32 deep (the schema needs 4: blocklist.
// entries[0].prefix): the reader kept each level's path, so memory grew with
// the square of the depth (a 40 KB file of 20,000 "[" took 614 MB).
TEST(ConfigJson, NestingDeeperThan32LevelsIsRefusedNamingWhere) {
  auto nested = [](int arrays) {
    return R"({"x": )" + std::string(static_cast<std::size_t>(arrays), '[') +
           std::string(static_cast<std::size_t>(arrays), ']') + "}";
  };
  std::string where = "x";
  for (int i = 0; i < 31; ++i) where += "[0]";
  const std::string refusal = where + ": not valid JSON: nested deeper than 32 levels (arrays and objects; the "
                                      "configuration's deepest value is 4 levels down, blocklist.entries[0].prefix)";
  EXPECT_EQ(problems(nested(32)), std::vector<std::string>{refusal});  // the root object and 32 arrays: 33
  EXPECT_EQ(problems(nested(2000)), std::vector<std::string>{refusal});
  EXPECT_FALSE(has_problem(problems(nested(31)), where)) << "32 levels are read";
  EXPECT_TRUE(has_problem(problems(nested(31)), "x: unknown key"));
}

TEST(ConfigJson, ADuplicateKeyAnywhereIsNamedByItsPath) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway", "role": "lan"}],
                        "publish": {"endpoint": "ipc:///tmp/a.sock", "endpoint": "ipc:///tmp/b.sock"},
                        "log_level": "info", "log_level": "debug"})");
  EXPECT_TRUE(has_problem(p, "publish.endpoint: duplicate key")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "interfaces[0].role: duplicate key")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "log_level: duplicate key")) << ::testing::PrintToString(p);
  EXPECT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
  // A whole section twice.
  p = problems(std::string(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                               "flows": {}, "flows": {"enabled": false}})"));
  EXPECT_EQ(p, std::vector<std::string>{"flows: duplicate key"});
  // With the document's other problems.
  p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                   "log_level": "loud", "keep_pins": true, "keep_pins": false})");
  EXPECT_EQ(p, (std::vector<std::string>{"keep_pins: duplicate key", "log_level: unknown level \"loud\" (trace, "
                                                                      "debug, info, warn, error)"}));
}

TEST(ConfigJson, ANulByteOrTrailingContentIsAnError) {
  const std::string good = kMinimal;
  EXPECT_TRUE(problems(good + "\n// a trailing comment\n").empty());
  auto p = problems(good + std::string("\0{\"interfaces\": 5}", 18));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(has_problem(p, ": not valid JSON: a NUL byte at line 1")) << p[0];
  p = problems(good + std::string("\n\0", 2));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(has_problem(p, ": not valid JSON: a NUL byte at line 2")) << p[0];
  p = problems(good + "\n{\"log_level\": \"debug\"}");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("not valid JSON"), std::string::npos) << p[0];
  EXPECT_NE(p[0].find("expected end of input"), std::string::npos) << p[0];
}

TEST(ConfigJson, CommentsStayAllowed) {
  Config c = parse_config("// sensor\n{ /* inline */ \"interfaces\": [{\"name\": \"eth0\", \"role\": \"wan\", "
                          "\"mode\": \"gateway\"}] // end\n}");
  EXPECT_EQ(c.interfaces.at(0).name, "eth0");
}

TEST(ConfigFile, AnUnreadableFileNamesTheErrnoText) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sniffer-config-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  auto message = [](const std::string& path) {
    try {
      load_config_file(path);
    } catch (const ConfigInvalid& e) {
      return e.errors().at(0).message;
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(dir).rfind("cannot read config file \"" + dir + "\": Is a directory", 0), 0u) << message(dir);
  EXPECT_EQ(message(dir + "/none.json")
                .rfind("cannot read config file \"" + dir + "/none.json\": No such file or directory", 0),
            0u)
      << message(dir + "/none.json");
  std::filesystem::remove_all(dir);
}

// The config steers the sensor's blocklist, outputs and keys at every reload:
// a file, or a directory (not sticky), that any local user can write is
// refused; a group's write is the operator's choice.
TEST(ConfigFile, OneThatAnyLocalUserCanChangeIsRefused) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sniffer-config-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  std::string path = dir + "/sniffer.json";
  std::ofstream(path) << R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}]})";
  auto message = [&] {
    try {
      load_config_file(path);
    } catch (const ConfigInvalid& e) {
      return e.errors().at(0).message;
    }
    return std::string("no error");
  };
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  for (mode_t mode : {0600, 0644, 0664, 0620}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_EQ(message(), "no error") << std::oct << mode;
  }
  for (mode_t mode : {0666, 0602, 0646}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    EXPECT_NE(message().find("config file \"" + path + "\": mode 0" + (std::ostringstream() << std::oct << mode).str() +
                             " lets any local user change the sensor's blocklist, outputs and keys; refusing it "
                             "(chmod o-w \"" + path + "\")"),
              std::string::npos)
        << message();
  }
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  EXPECT_NE(message().find("its directory \"" + dir + "\" (mode 0777) lets any local user replace it"),
            std::string::npos)
      << message();
  ASSERT_EQ(chmod(dir.c_str(), 01777), 0);  // sticky, as /tmp: others cannot replace our file
  EXPECT_EQ(message(), "no error");
  ASSERT_EQ(chmod(dir.c_str(), 0775), 0);
  EXPECT_EQ(message(), "no error");
  std::filesystem::remove_all(dir);
}

// --- Endpoints a server socket binds, checked at config time. ---

TEST(ConfigEndpoints, AHostNameIsRefusedWithAHint) {
  std::string why = bind_endpoint_problem("tcp://localhost:5557");
  EXPECT_NE(why.find("\"localhost\" is neither an IP address nor an interface of this host"), std::string::npos) << why;
  EXPECT_NE(why.find("use 127.0.0.1, [::1] or *"), std::string::npos) << why;
  EXPECT_NE(why.find("not a host name"), std::string::npos) << why;
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "publish": {"endpoint": "tcp://localhost:5557"}})");
  EXPECT_TRUE(has_problem(p, "publish.endpoint: \"tcp://localhost:5557\": \"localhost\" is neither"))
      << ::testing::PrintToString(p);
}

TEST(ConfigEndpoints, AddressesInterfacesAndPorts) {
  for (const char* ok : {"tcp://*:5556", "tcp://127.0.0.1:5556", "tcp://0.0.0.0:1", "tcp://[::1]:65535",
                         "tcp://[::]:5556", "tcp://lo:5556", "ipc:///tmp/s.sock", "ipc://@abstract", "inproc://x"}) {
    EXPECT_EQ(bind_endpoint_problem(ok), "") << ok;
  }
  EXPECT_NE(bind_endpoint_problem("tcp://127.0.0.1:*").find("ephemeral port"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://*:0").find("ephemeral port"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://*:65536").find("port \"65536\" is not a number between 1 and 65535"),
            std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://*:http").find("port \"http\" is not a number"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://127.0.0.1").find("has no port"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://:5556").find("has no address"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://::1:5556").find("in brackets"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://[::x]:5556").find("is not an IPv6 address"), std::string::npos);
  EXPECT_NE(bind_endpoint_problem("tcp://nosuchif0:5556").find("neither an IP address nor an interface"),
            std::string::npos);
  EXPECT_NE(bind_endpoint_problem("pgm://eth0;239.0.0.1:5555").find("is not a ZeroMQ endpoint"), std::string::npos);
}

TEST(ConfigEndpoints, AnIpcPathNeedsItsDirectory) {
  EXPECT_NE(bind_endpoint_problem("ipc://").find("has no path"), std::string::npos);
  EXPECT_EQ(bind_endpoint_problem("ipc:///nonexistent-dir/sub/s.sock"),
            "\"ipc:///nonexistent-dir/sub/s.sock\": its directory \"/nonexistent-dir/sub\" does not exist");
  EXPECT_NE(bind_endpoint_problem("ipc:///etc/hostname/s.sock").find("\"/etc/hostname\" is not a directory"),
            std::string::npos);
  EXPECT_NE(bind_endpoint_problem("ipc:///tmp/" + std::string(120, 'x')).find("more than a Unix socket's 107"),
            std::string::npos);
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "publish": {"endpoint": "ipc:///tmp/p.sock"},
                        "control": {"endpoint": "tcp://localhost:5557"}})");
  EXPECT_TRUE(has_problem(p, "control.endpoint: \"tcp://localhost:5557\": \"localhost\" is neither"))
      << ::testing::PrintToString(p);
}

}  // namespace
}  // namespace sniffer
