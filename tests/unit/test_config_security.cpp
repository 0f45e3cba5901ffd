// Config of the security parts: CURVE key files, the blocklist and its guard.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config_problems.hpp"
#include "sniffer/config.hpp"
#include "sniffer/curve_auth.hpp"

namespace sniffer {
namespace {

using test::has_problem;
using test::kMinimal;
using test::problems;

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

}  // namespace
}  // namespace sniffer
