// PacketEvent and FlowRecord -> JSON for people and scripts (sniffer-sub):
// addresses as text, enums by name, payload as hex.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "sniffer.pb.h"

namespace sniffer {

nlohmann::json event_to_json(const v1::PacketEvent& event);
// Every field under its proto name (DirectionStats and Stats as nested objects).
nlohmann::json flow_to_json(const v1::FlowRecord& flow);

// The text of the interface enums, as in the config ("wan", "host-based"):
// views of literals (the CSV writes them a row, without a strlen).
constexpr std::string_view role_name(v1::Role r) {
  using namespace std::string_view_literals;
  return r == v1::ROLE_WAN ? "wan"sv : r == v1::ROLE_LAN ? "lan"sv : "unspecified"sv;
}
constexpr std::string_view mode_name(v1::Mode m) {
  using namespace std::string_view_literals;
  return m == v1::MODE_HOST_BASED ? "host-based"sv : m == v1::MODE_GATEWAY ? "gateway"sv : "unspecified"sv;
}

// "192.0.2.1" / "2001:db8::1" from 4 or 16 network-order bytes; "" otherwise.
std::string address_to_string(const std::string& bytes);

}  // namespace sniffer
