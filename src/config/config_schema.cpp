// What the rows write: the effective config (--print-config) and the
// reference table (--print-config-reference, README.md).
#include "sniffer/config_schema.hpp"

#include <bit>

namespace sniffer {

using json = nlohmann::json;

std::string integer_type(std::uint64_t lo, std::uint64_t hi) {
  auto number = [](std::uint64_t n) {
    if (n >= (1u << 20) && std::has_single_bit(n)) return "2^" + std::to_string(std::countr_zero(n));
    return std::to_string(n);
  };
  return "integer " + number(lo) + ".." + number(hi);
}

std::string reference_default(const json& value) {
  if (value.is_number()) return value.dump();
  if (!value.is_array()) return "`" + value.dump() + "`";
  std::string items;  // ["a", "b"]: spaced, as written by hand
  for (const auto& v : value) items += (items.empty() ? "" : ", ") + v.dump();
  return "`[" + items + "]`";
}

json config_to_json(const Config& config) { return write_object(config_table(), config); }

std::string config_reference_markdown() {
  std::vector<ReferenceLine> lines;
  describe(config_table(), Config{}, "", lines);
  std::string out = "| key | type | default | effect |\n| --- | --- | --- | --- |\n";
  for (const auto& l : lines) {
    out += "| `" + l.key + "` | " + l.type + " | " + l.default_value + " | " + l.help + " |\n";
  }
  return out;
}

}  // namespace sniffer
