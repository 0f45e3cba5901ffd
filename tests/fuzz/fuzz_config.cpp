// libFuzzer: the config parser. Any input must end in a Config or a
// ConfigInvalid with at least one error; nothing else may escape.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sniffer/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    sniffer::Config c = sniffer::parse_config(text);
    (void)sniffer::config_to_json(c).dump();
  } catch (const sniffer::ConfigInvalid& e) {
    if (e.errors().empty()) __builtin_trap();
  }
  return 0;
}
