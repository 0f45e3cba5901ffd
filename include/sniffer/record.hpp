// Validation of raw ring-buffer records against the ABI (include/sniffer/abi.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "sniffer/abi.h"

namespace sniffer {

enum class DecodeStatus {
  Ok,
  TooShort,     // fewer bytes than the fixed record
  BadMagic,     // not a sniffer record at all
  BadVersion,   // a layout this build does not know: never guess
  BadLength,    // record_len beyond the ring sample or the configured capacity
  BadSnippet,   // snippet_len larger than the record's snippet area
};
inline constexpr int kNumDecodeStatus = 6;

const char* to_string(DecodeStatus status);

struct DecodedRecord {
  DecodedRecord() = default;
  DecodedRecord(const sniffer_record& h, std::span<const std::uint8_t> s) : snippet(s), header(h) {}
  std::span<const std::uint8_t> snippet;  // points into the ring sample
  // Copied out (ring memory is reused), except in a RecordArea. Last, so
  // that a RecordArea's snippet bytes follow it.
  sniffer_record header{};
};

// A packet record decoded where it was written: the user engine builds its
// records (header, then snippet) at &record.header, and decode_record finds
// the header in place, no copy.
struct RecordArea {
  DecodedRecord record;
  std::uint8_t snippet[SNIFFER_MAX_PAYLOAD_BYTES];
};
static_assert(offsetof(RecordArea, snippet) == offsetof(RecordArea, record.header) + sizeof(sniffer_record),
              "the snippet follows the header, as in a ring sample");

// The record type of a ring sample, by its first word (0 if too short).
std::uint32_t record_magic(const void* data, std::size_t size);

// Checks one flow record (kernel flow aggregation) and copies it to out.
DecodeStatus decode_flow_record(const void* data, std::size_t size, sniffer_flow_record& out);
// The same check, the record read where it lies when that is aligned for it
// (a ring's samples are; the user engine's are the programs' own buffer):
// `record` points at data, else at `scratch`, the record copied there. A
// record is 776 bytes, copied next into its FlowState anyway: this copy was
// ~1.5 % of an offline run under kernel aggregation (perf).
DecodeStatus decode_flow_record(const void* data, std::size_t size, sniffer_flow_record& scratch,
                                const sniffer_flow_record*& record);
// A drop record (kernel drop reasons, flows aggregated in userspace).
DecodeStatus decode_drop_record(const void* data, std::size_t size, sniffer_drop_record& out);

// Checks one ring sample of `size` bytes. payload_capacity is the snippet
// area the programs were loaded with (capture.payload_bytes).
DecodeStatus decode_record(const void* data, std::size_t size, std::uint32_t payload_capacity,
                           DecodedRecord& out);

}  // namespace sniffer
