// FlowRecord -> one CSV row (RFC 4180), for offline training data.
//
// The first columns carry the CIC-IDS2017 feature names (without the stray
// leading spaces of the published CSVs and without CIC's duplicated second
// "Fwd Header Length" column); then sniffer's own snake_case columns; then,
// with label_column (--labels), "Label" (the record's label). Every
// definition, unit and the proto field behind each column:
// docs/flow-features.md. Cells are never NaN or infinite (0 instead).
#pragma once

#include <cstddef>
#include <string>

#include "sniffer.pb.h"
#include "sniffer/flow_row.hpp"

namespace sniffer {

// The header line, newline-terminated.
std::string flow_csv_header(bool label_column = false);

// One record as a line with as many cells as the header, newline-terminated.
std::string flow_csv_row(const v1::FlowRecord& record, bool label_column = false);
// The same row written at `at`, which has room for flow_csv_row_bound(record)
// bytes; returns the end of the row. For a writer with a buffer of its own
// (FlowOutput writes into its file's): no copy of the row.
char* write_flow_csv_row(char* at, const v1::FlowRecord& record, bool label_column = false);
std::size_t flow_csv_row_bound(const v1::FlowRecord& record);
// The same from a FlowRow (its text cells as a FlowRecord's would be).
char* write_flow_csv_row(char* at, const FlowRow& row, bool label_column = false);
// Without the label column a row ends in its Community ID (kCommunityIdLength
// bytes) and '\n': FlowOutput fills a held-back ID in there.
std::size_t flow_csv_row_bound(const FlowRow& row);

}  // namespace sniffer
