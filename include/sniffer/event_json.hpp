// PacketEvent and FlowRecord -> JSON for people and scripts (sniffer-sub):
// addresses as text, enums by name, payload as hex.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "sniffer.pb.h"

namespace sniffer {

nlohmann::json event_to_json(const v1::PacketEvent& event);
// Every field under its proto name (DirectionStats and Stats as nested objects).
nlohmann::json flow_to_json(const v1::FlowRecord& flow);

// The text of the interface enums, as in the config ("wan", "host-based").
const char* role_name(v1::Role role);
const char* mode_name(v1::Mode mode);

// "192.0.2.1" / "2001:db8::1" from 4 or 16 network-order bytes; "" otherwise.
std::string address_to_string(const std::string& bytes);

}  // namespace sniffer
