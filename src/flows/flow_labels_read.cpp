// Reading a rules file: the CSV form (a header of field names, one rule per
// line) and the JSON form ({"rules": [...]}) into RuleTexts, which
// build_flow_labels (flow_labels.cpp) checks and pre-parses.
#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "sniffer/error.hpp"
#include "sniffer/flow_labels.hpp"
#include "sniffer/small_file.hpp"

namespace sniffer {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxRulesBytes = 16u << 20;
constexpr std::size_t kMaxRulesDepth = 32;  // arrays and objects within one another

bool known_field(const std::string& name) {
  for (const char* f : kLabelRuleFields) {
    if (name == f) return true;
  }
  return false;
}

std::string trimmed(const std::string& s) {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// One line's cells, RFC 4180 quoting within the line (a doubled quote is a
// quote), blanks around a cell dropped. Throws std::runtime_error on a quote
// left open or text after a closing quote.
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t at = 0;
  for (;;) {
    std::string cell;
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
    if (at < line.size() && line[at] == '"') {
      for (++at;; ++at) {
        if (at >= line.size()) throw std::runtime_error("a quote is not closed on its line");
        if (line[at] == '"' && (at + 1 >= line.size() || line[at + 1] != '"')) break;
        if (line[at] == '"') ++at;  // a doubled quote
        cell.push_back(line[at]);
      }
      ++at;
      while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
      if (at < line.size() && line[at] != ',') throw std::runtime_error("text after a closing quote");
    } else {
      const std::size_t comma = std::min(line.find(',', at), line.size());
      cell = trimmed(line.substr(at, comma - at));
      at = comma;
    }
    cells.push_back(std::move(cell));
    if (at >= line.size()) return cells;
    ++at;  // the comma
  }
}

// The header's problems (unknown or repeated names, no label column).
std::vector<std::string> header_problems(const std::string& file, std::size_t line_no,
                                         const std::vector<std::string>& header) {
  std::vector<std::string> problems;
  const std::string where = file + ": line " + std::to_string(line_no) + " (the header): ";
  std::set<std::string> seen;
  for (const std::string& name : header) {
    if (!known_field(name)) {
      std::string names;
      for (const char* f : kLabelRuleFields) names += (names.empty() ? "" : ",") + std::string(f);
      problems.push_back(where + "column \"" + name + "\": unknown field (expected some of " + names + ")");
    } else if (!seen.insert(name).second) {
      problems.push_back(where + "column \"" + name + "\": given twice");
    }
  }
  if (!seen.count("label")) problems.push_back(where + "no \"label\" column: every rule needs a label");
  return problems;
}

// ---- JSON: which rule a duplicated key is in ---------------------------------

// nlohmann keeps the last of a key given twice, silently: this callback
// notes each one, by rule (objects at depth 2, in the rules array) or at the
// top level.
class DuplicateKeys {
 public:
  std::vector<std::string> problems;
  explicit DuplicateKeys(std::string file) : file_(std::move(file)) {}

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    // depth: the containers around this one. A rules file needs 3 levels;
    // 16 MB of "[" would hold 8 million in memory.
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= static_cast<int>(kMaxRulesDepth)) {
      throw LabelsInvalid(file_, {file_ + ": not valid JSON: nested deeper than " + std::to_string(kMaxRulesDepth) +
                                  " levels (arrays and objects; a rules file needs 3)"});
    }
    if (event == json::parse_event_t::object_start) {
      keys_.emplace_back();
      if (depth == 2) ++rules_;
    } else if (event == json::parse_event_t::object_end) {
      keys_.pop_back();
    } else if (event == json::parse_event_t::key && !keys_.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!keys_.back().insert(key).second) {
        const std::string where = keys_.size() == 2 ? rule_where(rules_ - 1) + ": " : "";
        problems.push_back(file_ + ": " + where + key + ": given twice");
      }
    }
    return true;
  }

  static std::string rule_where(std::size_t index) {
    return "rule " + std::to_string(index + 1) + " (rules[" + std::to_string(index) + "])";
  }

 private:
  std::string file_;
  std::vector<std::set<std::string>> keys_;  // per open object
  std::size_t rules_ = 0;
};

// A rule's fields as text: strings as they are, numbers as written; nullopt
// (a problem) when it is no object.
std::optional<RuleText> rule_text(const std::string& file, const json& rule, std::size_t index,
                                  std::vector<std::string>& problems) {
  RuleText text{DuplicateKeys::rule_where(index), {}};
  if (!rule.is_object()) {
    problems.push_back(file + ": " + text.where + ": expected an object of fields, got " + rule.type_name());
    return std::nullopt;
  }
  for (const auto& [name, value] : rule.items()) {
    if (value.is_string()) {
      text.fields.emplace_back(name, value.get<std::string>());
    } else if (value.is_number()) {
      text.fields.emplace_back(name, value.dump());
    } else {
      problems.push_back(file + ": " + text.where + ": " + name + ": expected a string or a number, got " +
                         value.type_name());
    }
  }
  return text;
}

std::string read_rules_file(const std::string& path) {
  try {
    // A regular file only: a FIFO there would hold the run in its open for good.
    return read_small_file(path, kMaxRulesBytes, /*regular_only=*/true);
  } catch (const Error& e) {
    throw LabelsInvalid(path, {"cannot read labels file \"" + path + "\": " + e.what()});
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  }
  return true;
}

}  // namespace

FlowLabels parse_flow_labels_csv(const std::string& text, const std::string& file) {
  std::vector<std::string> problems;
  std::vector<RuleText> rules;
  std::vector<std::string> header;
  std::size_t line_no = 0, rule_no = 0;
  // A UTF-8 byte order mark (spreadsheets write one) is not part of the first name.
  std::size_t at = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  while (at < text.size()) {
    const std::size_t newline = std::min(text.find('\n', at), text.size());
    std::string line = text.substr(at, newline - at);
    at = newline + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trimmed(line).empty() || trimmed(line).front() == '#') continue;  // blank lines and comments
    const std::string where = header.empty() ? "line " + std::to_string(line_no)
                                              : "rule " + std::to_string(++rule_no) + " (line " +
                                                    std::to_string(line_no) + ")";
    std::vector<std::string> cells;
    try {
      cells = csv_cells(line);
    } catch (const std::runtime_error& e) {
      problems.push_back(file + ": " + where + ": " + e.what());
      if (header.empty()) break;
      continue;
    }
    if (header.empty()) {
      header = cells;
      std::vector<std::string> bad = header_problems(file, line_no, header);
      if (!bad.empty()) throw LabelsInvalid(file, std::move(bad));  // its rows cannot be read
      continue;
    }
    if (cells.size() != header.size()) {
      problems.push_back(file + ": " + where + ": " + std::to_string(cells.size()) +
                         (cells.size() == 1 ? " cell" : " cells") + ", the header has " + std::to_string(header.size()));
      continue;
    }
    RuleText rule{where, {}};
    for (std::size_t i = 0; i < cells.size(); ++i) {
      // An empty cell: any value; but an empty label is an error, not a missing one.
      if (!cells[i].empty() || header[i] == "label") rule.fields.emplace_back(header[i], cells[i]);
    }
    rules.push_back(std::move(rule));
  }
  if (header.empty() && problems.empty()) {
    problems.push_back(file + ": no header line (the field names, e.g. src,dst,dst_port,protocol,label)");
  }
  return build_flow_labels(file, rules, std::move(problems));
}

FlowLabels parse_flow_labels_json(const std::string& text, const std::string& file) {
  DuplicateKeys duplicates(file);
  json doc;
  try {
    doc = json::parse(text, std::ref(duplicates), /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    throw LabelsInvalid(file, {file + ": not valid JSON: " + e.what()});
  }
  std::vector<std::string> problems = std::move(duplicates.problems);
  std::vector<RuleText> rules;
  if (!doc.is_object() || !doc.contains("rules") || !doc["rules"].is_array()) {
    problems.push_back(file + ": expected an object with an array of rules: {\"rules\": [{...}, ...]}");
  } else {
    for (const auto& [key, value] : doc.items()) {
      if (key != "rules") problems.push_back(file + ": " + key + ": unknown field (expected \"rules\")");
    }
    const json& array = doc["rules"];
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (auto rule = rule_text(file, array[i], i, problems)) rules.push_back(std::move(*rule));
    }
  }
  return build_flow_labels(file, rules, std::move(problems));
}

FlowLabels load_flow_labels(const std::string& path) {
  if (ends_with(path, ".csv")) return parse_flow_labels_csv(read_rules_file(path), path);
  if (ends_with(path, ".json")) return parse_flow_labels_json(read_rules_file(path), path);
  throw LabelsInvalid(path, {path + ": unknown format: the file name must end in .csv or .json"});
}

}  // namespace sniffer
