// Label rules: each field's text -> its pre-parsed value (checked), a rule's
// checks across fields, and matching a flow record against the rules.
// Reading the CSV and JSON forms: flow_labels_read.cpp.
#include "sniffer/flow_labels.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <set>
#include <stdexcept>

namespace sniffer {

namespace {

// A field's value refused; the message says why (the caller names the field).
struct FieldError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The digits of s as a number, or nullopt when they are not all digits or
// exceed `max`.
std::optional<std::uint64_t> number(std::string_view s, std::uint64_t max) {
  std::uint64_t v = 0;
  if (!all_digits(s)) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// ---- time: RFC 3339 with a time zone, or epoch seconds ---------------------

constexpr std::uint64_t kMaxSeconds = UINT64_MAX / 1'000'000'000ull;  // 2554-07-21

// "123" or "123.456" (up to 9 fraction digits count) -> nanoseconds.
std::uint64_t fraction_ns(std::string_view digits) {
  std::uint64_t ns = 0;
  for (std::size_t i = 0; i < 9; ++i) ns = ns * 10 + (i < digits.size() ? digits[i] - '0' : 0);
  return ns;
}

std::optional<std::uint64_t> epoch_ns(const std::string& text) {
  const std::size_t dot = text.find('.');
  const std::string_view secs = std::string_view(text).substr(0, dot);
  const std::string_view frac = dot == std::string::npos ? "" : std::string_view(text).substr(dot + 1);
  if (!all_digits(secs) || (dot != std::string::npos && !all_digits(frac))) return std::nullopt;
  const auto s = number(secs, kMaxSeconds - 1);
  if (!s) throw FieldError("\"" + text + "\": epoch seconds beyond the year 2554");
  return *s * 1'000'000'000ull + fraction_ns(frac);
}

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); 'T' may be 't' or a space.
std::uint64_t rfc3339_ns(const std::string& text) {
  const std::string expected = "\"" + text + "\": expected RFC 3339 with a time zone (2017-07-05T09:47:00-03:00, "
                               "2017-07-05T12:47:00Z) or epoch seconds (1499258820)";
  auto field = [&](std::size_t at, std::size_t len) {
    auto v = at + len <= text.size() ? number(std::string_view(text).substr(at, len), 9999) : std::nullopt;
    if (!v) throw FieldError(expected);
    return static_cast<int>(*v);
  };
  auto is = [&](std::size_t at, const char* chars) {
    return at < text.size() && text[at] != '\0' && std::strchr(chars, text[at]);
  };
  if (!is(4, "-") || !is(7, "-") || !is(10, "Tt ") || !is(13, ":") || !is(16, ":")) throw FieldError(expected);
  const int year = field(0, 4), month = field(5, 2), day = field(8, 2);
  const int hour = field(11, 2), minute = field(14, 2), second = field(17, 2);
  std::size_t at = 19;
  std::string_view frac;
  if (is(at, ".")) {
    std::size_t end = at + 1;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    frac = std::string_view(text).substr(at + 1, end - at - 1);
    if (frac.empty()) throw FieldError(expected);
    at = end;
  }
  int offset_min = 0;  // Z
  if (is(at, "+-") && at + 6 == text.size() && is(at + 3, ":")) {
    const int h = field(at + 1, 2), m = field(at + 4, 2);
    if (h > 23 || m > 59) throw FieldError("\"" + text + "\": time zone offset out of range");
    offset_min = (text[at] == '-' ? -1 : 1) * (h * 60 + m);
  } else if (!is(at, "Zz") || at + 1 != text.size()) {
    throw FieldError(at == text.size() ? "\"" + text + "\": no time zone (add Z or an offset such as +02:00)"
                                       : expected);
  }
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 59) throw FieldError("\"" + text + "\": no such date or time");
  const std::int64_t secs = std::chrono::sys_days(date).time_since_epoch().count() * 86400LL + hour * 3600LL +
                            minute * 60LL + second - offset_min * 60LL;
  if (secs < 0) throw FieldError("\"" + text + "\": before 1970");
  if (static_cast<std::uint64_t>(secs) >= kMaxSeconds) throw FieldError("\"" + text + "\": beyond the year 2554");
  return static_cast<std::uint64_t>(secs) * 1'000'000'000ull + fraction_ns(frac);
}

std::uint64_t time_ns(const std::string& text) {
  if (auto ns = epoch_ns(text)) return *ns;
  return rfc3339_ns(text);
}

// ---- the other fields --------------------------------------------------------

std::uint16_t port(const std::string& whole, std::string_view text) {
  if (!all_digits(text)) throw FieldError("\"" + whole + "\": expected a port (80) or a range (1024-65535)");
  if (auto v = number(text, 65535)) return static_cast<std::uint16_t>(*v);
  throw FieldError("port " + std::string(text) + " out of range (0-65535)");
}

PortRange port_range(const std::string& text) {
  const std::size_t dash = text.find('-');
  if (dash == std::string::npos) {
    const std::uint16_t p = port(text, text);
    return {p, p};
  }
  const std::string_view whole(text);
  const PortRange r{port(text, whole.substr(0, dash)), port(text, whole.substr(dash + 1))};
  if (r.lo > r.hi) throw FieldError("\"" + text + "\": the range's first port is above its last");
  return r;
}

std::uint8_t protocol(const std::string& text) {
  static const std::pair<const char*, std::uint8_t> kNames[] = {
      {"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"icmp", IPPROTO_ICMP}, {"icmpv6", IPPROTO_ICMPV6},
      {"sctp", IPPROTO_SCTP}};
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [name, number] : kNames) {
    if (lower == name) return number;
  }
  if (all_digits(text)) {
    if (auto v = number(text, 255)) return static_cast<std::uint8_t>(*v);
    throw FieldError("protocol " + text + " out of range (0-255)");
  }
  throw FieldError("unknown protocol \"" + text + "\" (expected tcp, udp, icmp, icmpv6, sctp or a number 0-255)");
}

LabelDirection direction(const std::string& text) {
  if (text == "forward") return LabelDirection::Forward;
  if (text == "either") return LabelDirection::Either;
  throw FieldError("\"" + text + "\": expected \"forward\" (src is the initiator) or \"either\"");
}

// A label is one plain CSV cell: never quoted, never split.
std::string label(const std::string& text) {
  if (text.empty()) throw FieldError("empty label");
  for (unsigned char c : text) {
    if (c == ',' || c == '"' || c < 0x20 || c == 0x7f) {
      throw FieldError("a label may not hold a comma, a quote or a control character (a line break, a tab): "
                       "it is a cell of the CSV output");
    }
  }
  return text;
}

Prefix prefix(const std::string& text) {
  try {
    return Prefix::parse(text);
  } catch (const Error& e) {
    throw FieldError(e.what());
  }
}

// Sets one field of `rule` from its text; FieldError when refused.
void set_field(LabelRule& rule, const std::string& name, const std::string& text) {
  if (name == "start") rule.start_ns = time_ns(text);
  else if (name == "end") rule.end_ns = time_ns(text);
  else if (name == "src") rule.src = prefix(text);
  else if (name == "dst") rule.dst = prefix(text);
  else if (name == "src_port") rule.src_port = port_range(text);
  else if (name == "dst_port") rule.dst_port = port_range(text);
  else if (name == "protocol") rule.protocol = protocol(text);
  else if (name == "direction") rule.direction = direction(text);
  else if (name == "label") rule.label = label(text);
  else {
    std::string names;
    for (const char* n : kLabelRuleFields) names += (names.empty() ? "" : ", ") + std::string(n);
    throw FieldError("unknown field (expected " + names + ")");
  }
}

// The rule of `text`, or nullopt with its problems appended.
std::optional<LabelRule> build_rule(const std::string& file, const RuleText& text, std::vector<std::string>& problems) {
  const std::size_t problems_before = problems.size();
  auto fail = [&](const std::string& field, const std::string& why) {
    problems.push_back(file + ": " + text.where + ": " + field + ": " + why);
  };
  LabelRule rule;
  std::set<std::string> seen, valid;
  for (const auto& [name, value] : text.fields) {
    if (!seen.insert(name).second) {
      fail(name, "given twice");
      continue;
    }
    try {
      set_field(rule, name, value);
      valid.insert(name);
    } catch (const FieldError& e) {
      fail(name, e.what());
    }
  }
  if (!seen.count("label")) fail("label", "missing: every rule needs a label");
  // An absent start is 1970; a start refused has its own problem.
  if (valid.count("end") && (valid.count("start") || !seen.count("start")) && rule.end_ns <= rule.start_ns) {
    fail("end", "not after start: the window [start, end) would be empty");
  }
  if (rule.src && rule.dst && rule.src->family != rule.dst->family) {
    fail("dst", "src and dst are of different address families: no flow would match");
  }
  if (problems.size() != problems_before) return std::nullopt;
  return rule;
}

std::string joined_problems(const std::string& file, const std::vector<std::string>& problems) {
  std::string text = "invalid labels file \"" + file + "\" (" + std::to_string(problems.size()) +
                     (problems.size() == 1 ? " problem)" : " problems)");
  for (const std::string& p : problems) text += "\n  " + p;
  return text;
}

// The address bytes of a record (4 or 16) as a host prefix; family 0 (no
// prefix contains it) for anything else.
Prefix host_of(const std::string& bytes) {
  Prefix host;
  if (bytes.size() != 4 && bytes.size() != 16) return host;
  host.family = bytes.size() == 4 ? AF_INET : AF_INET6;
  host.length = static_cast<std::uint8_t>(bytes.size() * 8);
  std::memcpy(host.addr.data(), bytes.data(), bytes.size());
  return host;
}

bool within(const std::optional<Prefix>& prefix, const Prefix& host) { return !prefix || prefix->contains(host); }

// The rule's address and port fields against one orientation of the flow.
bool ends_match(const LabelRule& rule, const Prefix& src, std::uint32_t src_port, const Prefix& dst,
                std::uint32_t dst_port) {
  return within(rule.src, src) && within(rule.dst, dst) && rule.src_port.contains(src_port) &&
         rule.dst_port.contains(dst_port);
}

// Every field of the rule against the flow (the index narrows by address only).
bool matches(const LabelRule& rule, const v1::FlowRecord& record, const Prefix& src, const Prefix& dst) {
  const std::uint64_t start = record.start_ns();
  if (start < rule.start_ns || start >= rule.end_ns) return false;
  if (rule.protocol && *rule.protocol != record.l4_protocol()) return false;
  return ends_match(rule, src, record.src_port(), dst, record.dst_port()) ||
         (rule.direction == LabelDirection::Either && ends_match(rule, dst, record.dst_port(), src, record.src_port()));
}

}  // namespace

LabelsInvalid::LabelsInvalid(const std::string& file, std::vector<std::string> problems)
    : Error(joined_problems(file, problems)), problems_(std::move(problems)) {}

FlowLabels build_flow_labels(const std::string& file, const std::vector<RuleText>& rules,
                             std::vector<std::string> problems) {
  std::vector<LabelRule> built;
  for (const RuleText& text : rules) {
    if (auto rule = build_rule(file, text, problems)) built.push_back(std::move(*rule));
  }
  if (!problems.empty()) throw LabelsInvalid(file, std::move(problems));
  return FlowLabels(std::move(built));
}

const std::string& FlowLabels::label_of(const v1::FlowRecord& record) const {
  if (rules_.empty()) return default_label_;
  const Prefix src = host_of(record.src_addr()), dst = host_of(record.dst_addr());
  // The first rule in file order that matches, among those whose address (or port) may hold the flow's.
  const std::uint32_t first =
      index_.first(src, dst, record.src_port(), record.dst_port(),
                   [&](std::uint32_t number) { return matches(rules_[number], record, src, dst); });
  return first < rules_.size() ? rules_[first].label : default_label_;
}

}  // namespace sniffer
