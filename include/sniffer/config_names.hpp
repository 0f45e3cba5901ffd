// The names of the config's enums, each spelled once: parsing, to_string,
// error messages and the README's reference all read these tables.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "sniffer/config.hpp"

namespace sniffer {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// In the order the reference lists them.
inline constexpr EnumName<Role> kRoleNames[] = {{Role::Wan, "wan"}, {Role::Lan, "lan"}};
inline constexpr EnumName<Mode> kModeNames[] = {{Mode::HostBased, "host-based"}, {Mode::Gateway, "gateway"}};
inline constexpr EnumName<XdpMode> kXdpModeNames[] = {
    {XdpMode::Auto, "auto"}, {XdpMode::Native, "native"}, {XdpMode::Generic, "generic"}};
inline constexpr EnumName<Hook> kHookNames[] = {
    {Hook::XdpIngress, "xdp"}, {Hook::TcIngress, "tc_ingress"}, {Hook::TcEgress, "tc_egress"}};
inline constexpr EnumName<TcAttach> kTcAttachNames[] = {
    {TcAttach::Auto, "auto"}, {TcAttach::Tcx, "tcx"}, {TcAttach::Clsact, "clsact"}};
inline constexpr EnumName<FlowAggregation> kFlowAggregationNames[] = {{FlowAggregation::Userspace, "userspace"},
                                                                      {FlowAggregation::Kernel, "kernel"}};
inline constexpr EnumName<SlowSubscriber> kSlowSubscriberNames[] = {{SlowSubscriber::Isolate, "isolate"},
                                                                    {SlowSubscriber::AllOrNone, "all_or_none"}};
inline constexpr EnumName<BlockDirection> kBlockDirectionNames[] = {{BlockDirection::Source, "src"},
                                                                    {BlockDirection::Destination, "dst"}};
inline constexpr EnumName<BlockAction> kBlockActionNames[] = {{BlockAction::Drop, "drop"},
                                                              {BlockAction::Count, "count"}};
// filter.default_action, read into FilterConfig::default_capture.
inline constexpr EnumName<bool> kFilterActionNames[] = {{true, "capture"}, {false, "skip"}};

// The name of `value` (the first name for a value outside the table).
template <typename E, std::size_t N>
const char* name_of(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return names[0].name;
}

// The value named `name`, if any.
template <typename E, std::size_t N>
std::optional<E> value_of(const EnumName<E> (&names)[N], std::string_view name) {
  for (const auto& n : names) {
    if (name == n.name) return n.value;
  }
  return std::nullopt;
}

// The names quoted, "a", "b" or "c" (last_separator ", ": "a", "b", "c").
template <typename E, std::size_t N>
std::string quoted_choices(const EnumName<E> (&names)[N], const char* last_separator = " or ") {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    out += (i == 0 ? "" : i + 1 == N ? last_separator : ", ");
    out += std::string("\"") + names[i].name + "\"";
  }
  return out;
}

}  // namespace sniffer
