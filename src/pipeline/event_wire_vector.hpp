// PacketEvent's fields 12 to 28 (vlan_ids aside) encoded four at a time on
// AVX-512 (F, BW, CD, VL, VBMI, VBMI2; 256-bit vectors): each field's value is moved into a
// 64-bit lane, its varint bytes and size made in the lane beside its tag,
// and the lanes' kept bytes packed together by one byte compress. For
// EventWireBatch (event_wire.cpp), which encodes the same fields one by one
// where these instructions are missing; the bytes are the same (libprotobuf's:
// tests/unit/test_event_wire.cpp runs both ways).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sniffer/abi.h"

namespace sniffer::wire_vector {

// Whether this CPU and OS run the instructions (CPUID and XCR0), once.
bool available();

// Fields 12 to 21 and 23 to 28 of a record without VLAN tags (vlan_count 0:
// field 22 absent) at `at`, which has room for the fields' bound (17 bytes a
// field): up to 64 bytes are stored past each group's start. Returns the end.
// Only where available() is true.
std::uint8_t* fields_12_to_28(const sniffer_record& r, std::uint8_t* at);

}  // namespace sniffer::wire_vector
