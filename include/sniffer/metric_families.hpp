// Every Prometheus metric family the daemon exports from its report: name,
// type, HELP, and the samples of the userspace counters. The kernel counters'
// samples come from abi.h's SNIFFER_STATS list, each under the family its row
// names (metric_families.cpp asserts that each such family is listed here,
// with the row's kind).
#pragma once

#include <cstdint>
#include <sstream>
#include <span>
#include <string>
#include <string_view>

#include "sniffer/counters.hpp"
#include "sniffer/report.hpp"

namespace sniffer {

// Writes one family: HELP and TYPE once, then its samples.
class FamilyWriter {
 public:
  FamilyWriter(std::ostringstream& out, std::string_view name, MetricKind kind, std::string_view help);
  FamilyWriter& sample(const std::string& labels, std::uint64_t value) {
    return sample_text(labels, std::to_string(value));
  }
  // `suffix` for a summary's _sum and _count.
  FamilyWriter& sample_text(const std::string& labels, const std::string& value, std::string_view suffix = "");

 private:
  std::ostringstream& out_;
  std::string_view name_;
};

// key="value", the value escaped.
std::string label(std::string_view key, std::string_view value);

struct MetricFamily {
  std::string_view name;
  MetricKind kind;
  std::string_view help;
  void (*userspace_samples)(FamilyWriter&, const Report&);  // null: the kernel counters' only
};

// In the order of the text.
std::span<const MetricFamily> metric_families();

}  // namespace sniffer
