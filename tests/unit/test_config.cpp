// Config validation: every error names its JSON path and reason.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sniffer/abi.h"
#include "sniffer/config.hpp"
#include "sniffer/curve_auth.hpp"

namespace sniffer {
namespace {

// The problems reported for `text`, as "path: message" strings.
std::vector<std::string> problems(const std::string& text) {
  try {
    parse_config(text);
  } catch (const ConfigInvalid& e) {
    std::vector<std::string> out;
    for (const auto& err : e.errors()) out.push_back(err.path + ": " + err.message);
    return out;
  }
  return {};
}

bool has_problem(const std::vector<std::string>& list, const std::string& prefix) {
  for (const auto& p : list) {
    if (p.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

const char* kMinimal = R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}]})";

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
                "tc_attach": "clsact"},
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
                        "publish": {"batch_max_events": 0},
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
}

TEST(Config, OutOfRangeValues) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "capture": {"payload_bytes": 513, "ring_buffer_bytes": 100000},
                        "filter": {"include_ports": [0, 70000, "http"]}})");
  EXPECT_TRUE(has_problem(p, "capture.payload_bytes: must be between 0 and 512, got 513"));
  EXPECT_TRUE(has_problem(p, "capture.ring_buffer_bytes: must be a power of two"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[0]: expected a port number between 1 and 65535, got 0"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[1]: expected a port number"));
  EXPECT_TRUE(has_problem(p, "filter.include_ports[2]: expected a port number"));
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

// publish.curve: key files in a temporary directory.
class CurveConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sniffer-config-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    keys_ = generate_keypair();
    secret_ = write("sensor.key", keys_.secret_z85 + "\n", 0600);
    authorized_ = write("authorized", "# subscribers\n" + generate_keypair().public_z85 + "\n", 0644);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    chmod(p.c_str(), mode);
    return p;
  }
  // A config whose "publish" section has `curve` (raw JSON).
  static std::string with_curve(const std::string& curve) {
    return R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
               "publish": {"endpoint": "tcp://0.0.0.0:5556", "curve": )" +
           curve + "}}";
  }
  static std::string curve(const std::string& secret, const std::string& authorized) {
    return nlohmann::json{{"secret_key_file", secret}, {"authorized_keys_file", authorized}}.dump();
  }

  std::string dir_, secret_, authorized_;
  CurveKeyPair keys_;
};

TEST_F(CurveConfigTest, AbsentMeansPlaintext) {
  Config c = parse_config(kMinimal);
  EXPECT_FALSE(c.publish.curve.has_value());
  EXPECT_FALSE(config_to_json(c)["publish"].contains("curve"));
}

TEST_F(CurveConfigTest, BothFilesAreReadAndShownInTheEffectiveConfig) {
  Config c = parse_config(with_curve(curve(secret_, authorized_)));
  ASSERT_TRUE(c.publish.curve.has_value());
  EXPECT_EQ(c.publish.curve->secret_key_file, secret_);
  EXPECT_EQ(c.publish.curve->authorized_keys_file, authorized_);
  nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j["publish"]["curve"]["secret_key_file"], secret_);
  EXPECT_EQ(j["publish"]["curve"]["authorized_keys_file"], authorized_);
  Config again = parse_config_json(j);  // round-trips
  EXPECT_EQ(config_to_json(again), j);
}

TEST_F(CurveConfigTest, BothKeysAreRequiredAndTyped) {
  auto p = problems(with_curve("{}"));
  EXPECT_TRUE(has_problem(p, "publish.curve.secret_key_file: missing")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "publish.curve.authorized_keys_file: missing")) << ::testing::PrintToString(p);
  p = problems(with_curve(R"({"secret_key_file": 1, "authorized_keys_file": "", "secret_key": "x"})"));
  EXPECT_TRUE(has_problem(p, "publish.curve.secret_key_file: expected a string, got number"));
  EXPECT_TRUE(has_problem(p, "publish.curve.authorized_keys_file: must not be empty"));
  EXPECT_TRUE(has_problem(p, "publish.curve.secret_key: unknown key"));
  EXPECT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
  p = problems(with_curve("true"));
  EXPECT_TRUE(has_problem(p, "publish.curve: expected an object, got boolean"));
}

TEST_F(CurveConfigTest, FileProblemsNameTheFile) {
  auto p = problems(with_curve(curve(dir_ + "/none.key", dir_ + "/none")));
  EXPECT_TRUE(has_problem(p, "publish.curve.secret_key_file: secret key file \"" + dir_ + "/none.key\": cannot open"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "publish.curve.authorized_keys_file: authorized keys file \"" + dir_ + "/none\": cannot open"))
      << ::testing::PrintToString(p);

  std::string open_key = write("open.key", keys_.secret_z85 + "\n", 0640);
  std::string bad = write("bad", "# ok\n" + keys_.public_z85 + "\nssh-ed25519 AAAA\n", 0644);
  p = problems(with_curve(curve(open_key, bad)));
  EXPECT_TRUE(has_problem(p, "publish.curve.secret_key_file: secret key file \"" + open_key + "\": mode 0640"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "publish.curve.authorized_keys_file: " + bad + ":3: not a CURVE key"))
      << ::testing::PrintToString(p);
}

TEST_F(CurveConfigTest, APublicKeyFileGivenAsTheSecretKeyIsNamed) {
  auto [key_path, pub_path] = write_keypair_files(dir_ + "/sensor2", generate_keypair());
  auto p = problems(with_curve(curve(pub_path, authorized_)));
  EXPECT_EQ(p, std::vector<std::string>{"publish.curve.secret_key_file: \"" + pub_path +
                                        "\" is a public key file (sniffer keygen's PREFIX.pub); give the secret "
                                        "key file \"" + key_path + "\""});
  // Also once chmod 600: its mode is not what tells it.
  chmod(pub_path.c_str(), 0600);
  EXPECT_EQ(problems(with_curve(curve(pub_path, authorized_))).size(), 1u);
}

}  // namespace
}  // namespace sniffer

namespace sniffer {
namespace {

// The shipped examples must stay valid.
TEST(Config, BlocklistKeysAreReadAndValidated) {
  Config c = parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"roles": ["wan", "lan"], "monitor_only": true, "record_dropped": false, "max_entries": 1024,
                    "default_duration_s": 60, "max_duration_s": 600, "allow": ["10.0.0.0/8", "2001:db8::1"],
                    "entries": [{"prefix": "203.0.113.0/24", "reason": "scanner"},
                                {"prefix": "2001:db8:bad::/48", "direction": "dst", "action": "count"}]}})");
  EXPECT_EQ(c.blocklist.roles, (std::vector<Role>{Role::Wan, Role::Lan}));
  EXPECT_TRUE(c.blocklist.monitor_only);
  EXPECT_FALSE(c.blocklist.record_dropped);
  EXPECT_EQ(c.blocklist.max_entries, 1024u);
  ASSERT_EQ(c.blocklist.entries.size(), 2u);
  EXPECT_EQ(c.blocklist.entries[0].prefix.text(), "203.0.113.0/24");
  EXPECT_EQ(c.blocklist.entries[1].direction, BlockDirection::Destination);
  EXPECT_EQ(c.blocklist.entries[1].action, BlockAction::Count);
  ASSERT_EQ(c.blocklist.allow.size(), 2u);
  nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j["blocklist"]["allow"][1], "2001:db8::1/128");
  EXPECT_EQ(config_to_json(parse_config_json(j)), j);  // round-trips

  // Defaults: the WAN role, drop records kept, no control socket.
  Config d = parse_config(kMinimal);
  EXPECT_EQ(d.blocklist.roles, std::vector<Role>{Role::Wan});
  EXPECT_TRUE(d.blocklist.record_dropped);
  EXPECT_TRUE(d.control.endpoint.empty());

  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"roles": ["dmz"], "default_duration_s": 700, "max_duration_s": 600,
                    "allow": ["10.0.0.0/8", "10.1.2.3/8"],
                    "entries": [{"prefix": "10.9.0.0/16"}, {"prefix": "203.0.113.0/24"},
                                {"prefix": "203.0.113.0/24", "action": "reject"}, {"reason": "x"}]}})");
  EXPECT_TRUE(has_problem(p, "blocklist.roles[0]: unknown value \"dmz\"")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "blocklist.default_duration_s: must not exceed blocklist.max_duration_s (600)"));
  EXPECT_TRUE(has_problem(p, "blocklist.allow[1]: prefix \"10.1.2.3/8\": host bits set after /8"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[0].prefix: 10.9.0.0/16 is inside blocklist.allow entry 10.0.0.0/8"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[2].action: unknown value \"reject\""));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[2].prefix: 203.0.113.0/24 (src) is already listed at "
                             "blocklist.entries[1]"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[3].prefix: missing"));
}

TEST_F(CurveConfigTest, TheControlSocketRequiresCurveAndItsOwnEndpoint) {
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                        "publish": {"endpoint": "ipc:///run/s.sock"},
                        "control": {"endpoint": "ipc:///run/s.sock", "rate_limit_per_s": 0}})");
  EXPECT_TRUE(has_problem(p, "control.endpoint: is publish.endpoint")) << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "control.curve: missing: the control socket changes what the gateway drops"));
  EXPECT_TRUE(has_problem(p, "control.rate_limit_per_s: must be between 1 and 1000, got 0"));

  Config c = parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                              "control": {"endpoint": "ipc:///run/c.sock", "curve": )" +
                          curve(secret_, authorized_) + "}}");
  EXPECT_EQ(c.control.endpoint, "ipc:///run/c.sock");
  EXPECT_EQ(c.control.curve.secret_key_file, secret_);
  EXPECT_EQ(config_to_json(c)["control"]["curve"]["authorized_keys_file"], authorized_);
}

TEST(Config, BlocklistGuardKeysHaveDefaultsAndAreValidatedByName) {
  Config d = parse_config(kMinimal);
  EXPECT_EQ(d.blocklist.min_prefix_v4, 16u);
  EXPECT_EQ(d.blocklist.min_prefix_v6, 32u);
  EXPECT_TRUE(d.blocklist.protected_prefixes.empty());
  EXPECT_EQ(config_to_json(d)["blocklist"]["min_prefix_v4"], 16);
  EXPECT_EQ(config_to_json(d)["blocklist"]["min_prefix_v6"], 32);
  EXPECT_EQ(config_to_json(d)["blocklist"]["protected"], nlohmann::json::array());

  Config c = parse_config(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"min_prefix_v4": 8, "min_prefix_v6": 0,
                    "protected": ["10.20.30.0/24", "2001:db8:ffff::/48", "192.0.2.7"],
                    "entries": [{"prefix": "100.0.0.0/8", "reason": "a /8 is fine at min_prefix_v4 8"},
                                {"prefix": "2001:db8:fffe::/48"}]}})");
  EXPECT_EQ(c.blocklist.min_prefix_v4, 8u);
  EXPECT_EQ(c.blocklist.min_prefix_v6, 0u);
  ASSERT_EQ(c.blocklist.protected_prefixes.size(), 3u);
  EXPECT_EQ(c.blocklist.protected_prefixes[2].text(), "192.0.2.7/32");
  EXPECT_EQ(c.blocklist.entries[1].path, "blocklist.entries[1]");
  nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j["blocklist"]["protected"][1], "2001:db8:ffff::/48");
  EXPECT_EQ(config_to_json(parse_config_json(j)), j);  // round-trips

  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"min_prefix_v4": 33, "min_prefix_v6": "64", "protected": ["10.0.0.1/8", 7],
                    "protect": []}})");
  EXPECT_TRUE(has_problem(p, "blocklist.min_prefix_v4: must be between 0 and 32, got 33"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "blocklist.min_prefix_v6: expected an unsigned integer, got string"));
  EXPECT_TRUE(has_problem(p, "blocklist.protected[0]: prefix \"10.0.0.1/8\": host bits set after /8"));
  EXPECT_TRUE(has_problem(p, "blocklist.protected[1]: expected a prefix string"));
  EXPECT_TRUE(has_problem(p, "blocklist.protect: unknown key"));
  EXPECT_TRUE(has_problem(problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                                       "blocklist": {"min_prefix_v6": 129, "protected": "10.0.0.0/8"}})"),
                          "blocklist.min_prefix_v6: must be between 0 and 128, got 129"));
  EXPECT_TRUE(has_problem(problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
                                       "blocklist": {"protected": "10.0.0.0/8"}})"),
                          "blocklist.protected: expected an array of prefixes, got string"));
}

TEST(Config, StaticEntriesBroaderThanTheMinimumOrOverAProtectedPrefixAreErrorsNamingTheEntry) {
  // The whole Internet, with the default keys only.
  auto whole = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"entries": [{"prefix": "0.0.0.0/0"}, {"prefix": "::/0"}]}})");
  EXPECT_EQ(whole, (std::vector<std::string>{
                       "blocklist.entries[0].prefix: blocklist.min_prefix_v4 is 16: 0.0.0.0/0 is broader",
                       "blocklist.entries[1].prefix: blocklist.min_prefix_v6 is 32: ::/0 is broader"}));

  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"protected": ["10.20.30.0/24", "2001:db8:ffff::/48"],
                    "entries": [{"prefix": "0.0.0.0/0"}, {"prefix": "::/0"}, {"prefix": "10.0.0.0/8"},
                                {"prefix": "10.20.0.0/16", "direction": "dst"}, {"prefix": "10.20.30.40"},
                                {"prefix": "2001:db8:ffff:1::/64"}, {"prefix": "10.21.0.0/16"},
                                {"prefix": "2001:db8::/32"}]}})");
  EXPECT_TRUE(has_problem(p, "blocklist.entries[0].prefix: blocklist.min_prefix_v4 is 16: 0.0.0.0/0 is broader"))
      << ::testing::PrintToString(p);
  EXPECT_TRUE(has_problem(p, "blocklist.entries[1].prefix: blocklist.min_prefix_v6 is 32: ::/0 is broader"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[2].prefix: blocklist.min_prefix_v4 is 16: 10.0.0.0/8 is broader"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[3].prefix: 10.20.0.0/16 would cover blocklist.protected[0] "
                             "10.20.30.0/24"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[4].prefix: 10.20.30.40/32 is inside blocklist.protected[0] "
                             "10.20.30.0/24"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[5].prefix: 2001:db8:ffff:1::/64 is inside blocklist.protected[1] "
                             "2001:db8:ffff::/48"));
  EXPECT_TRUE(has_problem(p, "blocklist.entries[7].prefix: 2001:db8::/32 would cover blocklist.protected[1]"));
  EXPECT_FALSE(has_problem(p, "blocklist.entries[6]"));  // the /16 next to the protected one
  EXPECT_EQ(p.size(), 7u) << ::testing::PrintToString(p);
}

TEST_F(CurveConfigTest, AStaticEntryOverTheControlEndpointsAddressIsAnError) {
  const std::string control = R"("control": {"endpoint": "tcp://192.0.2.1:5557", "curve": )" +
                              curve(secret_, authorized_) + "}";
  auto p = problems(R"({"interfaces": [{"name": "eth0", "role": "wan", "mode": "gateway"}],
      "blocklist": {"entries": [{"prefix": "192.0.2.0/24"}, {"prefix": "192.0.3.0/24"}]}, )" + control + "}");
  EXPECT_TRUE(has_problem(p, "blocklist.entries[0].prefix: 192.0.2.0/24 would cover the control endpoint's "
                             "address 192.0.2.1"))
      << ::testing::PrintToString(p);
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
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
