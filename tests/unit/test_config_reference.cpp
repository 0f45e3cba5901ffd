// README.md's "Configuration reference" is what the key tables print.
#include <fstream>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>

#include "sniffer/config_schema.hpp"

namespace sniffer {
namespace {

// The table (its lines starting with '|') of the README's section `title`.
std::string readme_table(const std::string& title) {
  std::ifstream in(std::string(SNIFFER_SOURCE_DIR) + "/README.md");
  std::string line, table;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## " + title;
    if (!in_section) continue;
    if (line.rfind("|", 0) == 0) {
      table += line + "\n";
    } else if (!table.empty()) {
      break;  // the table's end
    }
  }
  return table;
}

TEST(ConfigReference, TheReadmeTableIsWhatTheKeyTablesPrint) {
  const std::string readme = readme_table("Configuration reference");
  ASSERT_FALSE(readme.empty()) << "no table under \"## Configuration reference\" in README.md";
  EXPECT_EQ(readme, config_reference_markdown())
      << "README.md is out of date: replace its table with `build/sniffer --print-config-reference`";
}

TEST(ConfigReference, EveryKeyOfTheEffectiveConfigHasALine) {
  const std::string reference = config_reference_markdown();
  // Every key --print-config writes for a config with every optional part.
  Config c = default_config();
  c.interfaces.push_back({.name = "eth0", .role = Role::Wan, .hooks = {Hook::XdpIngress}});
  c.publish.curve = CurveConfig{"a.key", "b.pub"};
  c.control.endpoint = "ipc:///run/c.sock";
  c.blocklist.entries.push_back({.prefix = Prefix::parse("192.0.2.0/24")});
  // Its leaves, arrays of objects as "name[]" ("control.curve" has one line: "as publish.curve").
  std::vector<std::string> paths;
  std::function<void(const nlohmann::json&, const std::string&)> walk = [&](const nlohmann::json& v,
                                                                              const std::string& path) {
    if (v.is_array() && !v.empty() && v[0].is_object()) return walk(v[0], path + "[]");
    if (!v.is_object() || path == "control.curve") return paths.push_back(path);
    for (const auto& [key, value] : v.items()) walk(value, path.empty() ? key : path + "." + key);
  };
  walk(config_to_json(c), "");
  for (const auto& path : paths) {
    EXPECT_NE(reference.find("| `" + path + "` |"), std::string::npos) << path << " has no line in the reference";
  }
  EXPECT_GT(paths.size(), 50u);
}

// config/sniffer.json says that it shows every key: every section and every key
// of a section of the default config is written out.
TEST(ConfigReference, TheExampleConfigShowsEveryKey) {
  const nlohmann::json defaults = config_to_json(default_config());
  std::ifstream in(std::string(SNIFFER_SOURCE_DIR) + "/config/sniffer.json");
  const auto file = nlohmann::json::parse(in, nullptr, true, /*ignore_comments=*/true);
  for (const auto& [section, value] : defaults.items()) {
    EXPECT_TRUE(file.contains(section)) << "config/sniffer.json has no \"" << section << "\"";
    if (!file.contains(section) || !value.is_object()) continue;
    for (const auto& [key, unused] : value.items()) {
      EXPECT_TRUE(file[section].contains(key)) << "config/sniffer.json has no \"" << section << "." << key << "\"";
    }
  }
}

}  // namespace
}  // namespace sniffer
