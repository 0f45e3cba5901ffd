// Labels for offline training tables (--labels RULES): rules of time windows,
// address prefixes, ports and protocol -> a label; the first rule a flow
// matches gives its label, "BENIGN" when none does.
//
// A rule matches a flow by its orientation as the flow record has it: src is
// the initiator (the record's src_addr, src_port), dst the responder. A rule
// with direction "either" also matches the reverse orientation (data sets
// label by attacker/victim pair, whoever initiated). The time window is
// half-open and matched against the flow's start time (start_ns): start <=
// start_ns < end. Every field but the label is optional (absent: any).
//
// The rules file is a CSV (a header line naming the fields, one rule per
// line) or a JSON document ({"rules": [{field: value, ...}, ...]}), told by
// the file name's extension. It is validated whole before anything is read:
// every problem names the file, the rule and the field (README.md, "Labels").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sniffer.pb.h"
#include "sniffer/error.hpp"
#include "sniffer/flow_labels_index.hpp"
#include "sniffer/prefix.hpp"

namespace sniffer {

inline constexpr const char* kDefaultLabel = "BENIGN";

enum class LabelDirection {
  Forward,  // src is the flow's initiator
  Either,   // src is either end (dst the other one, with the ports swapped alike)
};

struct PortRange {
  std::uint16_t lo = 0, hi = 65535;
  bool contains(std::uint32_t port) const { return port >= lo && port <= hi; }
};

struct LabelRule {
  std::uint64_t start_ns = 0;           // the window on the flow's start time: [start_ns, end_ns)
  std::uint64_t end_ns = UINT64_MAX;
  std::optional<Prefix> src, dst;       // absent: any address (of either family)
  PortRange src_port, dst_port;
  std::optional<std::uint8_t> protocol;  // l4_protocol; absent: any
  LabelDirection direction = LabelDirection::Forward;
  std::string label;
};

// The rules in file order, indexed by address (flow_labels_index.hpp). Pure:
// matching reads only the record.
class FlowLabels {
 public:
  explicit FlowLabels(std::vector<LabelRule> rules) : rules_(std::move(rules)), index_(rules_) {}

  // The label of the first rule `record` matches (its addresses, ports,
  // l4_protocol and start_ns), else kDefaultLabel.
  const std::string& label_of(const v1::FlowRecord& record) const;
  const std::vector<LabelRule>& rules() const { return rules_; }

 private:
  std::vector<LabelRule> rules_;
  LabelRuleIndex index_;  // of rules_
  std::string default_label_ = kDefaultLabel;
};

// Every problem of a rules file, one line each ("rules.csv: rule 2 (line 3):
// src_port: ..."); what() gives them all under a first line naming the file.
class LabelsInvalid : public Error {
 public:
  LabelsInvalid(const std::string& file, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// One rule as written: where it is ("rule 2 (line 3)") and its fields as
// text, in the order given.
struct RuleText {
  std::string where;
  std::vector<std::pair<std::string, std::string>> fields;
};

// The field names a rule may have.
inline constexpr const char* kLabelRuleFields[] = {"start",    "end",      "src",       "dst",  "src_port",
                                                   "dst_port", "protocol", "direction", "label"};

// Validates and pre-parses rules; `problems` are those found while reading
// the file (each already naming it). Throws LabelsInvalid with every problem.
FlowLabels build_flow_labels(const std::string& file, const std::vector<RuleText>& rules,
                             std::vector<std::string> problems = {});

// The rules of a CSV or JSON text; `file` names it in the problems.
FlowLabels parse_flow_labels_csv(const std::string& text, const std::string& file);
FlowLabels parse_flow_labels_json(const std::string& text, const std::string& file);
// Reads `path` (.csv or .json). Throws LabelsInvalid, also when it cannot be
// read or its extension is neither.
FlowLabels load_flow_labels(const std::string& path);

}  // namespace sniffer
