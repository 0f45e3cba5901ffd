#include "sniffer/record.hpp"

#include <cstdint>
#include <cstring>

namespace sniffer {

const char* to_string(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::Ok: return "ok";
    case DecodeStatus::TooShort: return "too_short";
    case DecodeStatus::BadMagic: return "bad_magic";
    case DecodeStatus::BadVersion: return "bad_version";
    case DecodeStatus::BadLength: return "bad_length";
    case DecodeStatus::BadSnippet: return "bad_snippet";
  }
  return "unknown";
}

DecodeStatus decode_record(const void* data, std::size_t size, std::uint32_t payload_capacity,
                           DecodedRecord& out) {
  if (size < sizeof(sniffer_record)) return DecodeStatus::TooShort;
  if (data != &out.header) std::memcpy(&out.header, data, sizeof(sniffer_record));  // else written in place (RecordArea)
  const sniffer_record& h = out.header;
  if (h.magic != SNIFFER_RECORD_MAGIC) return DecodeStatus::BadMagic;
  if (h.abi_version != SNIFFER_ABI_VERSION) return DecodeStatus::BadVersion;
  // The snippet area is 0 to payload_capacity bytes (abi.h); the ring rounds
  // sample sizes up to 8 bytes.
  if (h.record_len < sizeof(sniffer_record) || h.record_len > sizeof(sniffer_record) + payload_capacity ||
      size < h.record_len)
    return DecodeStatus::BadLength;
  if (h.snippet_len > h.record_len - sizeof(sniffer_record)) return DecodeStatus::BadSnippet;
  out.snippet = {static_cast<const std::uint8_t*>(data) + sizeof(sniffer_record), h.snippet_len};
  return DecodeStatus::Ok;
}

std::uint32_t record_magic(const void* data, std::size_t size) {
  std::uint32_t magic = 0;
  if (size >= sizeof magic) std::memcpy(&magic, data, sizeof magic);
  return magic;
}

namespace {

// A record of fixed size: copied whole, then its header checked.
template <typename Record>
DecodeStatus decode_fixed(const void* data, std::size_t size, std::uint32_t magic, Record& out) {
  if (size < sizeof(Record)) return DecodeStatus::TooShort;
  std::memcpy(&out, data, sizeof out);
  if (out.magic != magic) return DecodeStatus::BadMagic;
  if (out.abi_version != SNIFFER_ABI_VERSION) return DecodeStatus::BadVersion;
  if (out.record_len != sizeof(Record)) return DecodeStatus::BadLength;
  return DecodeStatus::Ok;
}

}  // namespace

DecodeStatus decode_flow_record(const void* data, std::size_t size, sniffer_flow_record& out) {
  return decode_fixed(data, size, SNIFFER_FLOW_RECORD_MAGIC, out);
}

DecodeStatus decode_flow_record(const void* data, std::size_t size, sniffer_flow_record& scratch,
                                const sniffer_flow_record*& record) {
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(sniffer_flow_record) != 0) {
    record = &scratch;
    return decode_fixed(data, size, SNIFFER_FLOW_RECORD_MAGIC, scratch);
  }
  record = static_cast<const sniffer_flow_record*>(data);
  if (size < sizeof(sniffer_flow_record)) return DecodeStatus::TooShort;
  if (record->magic != SNIFFER_FLOW_RECORD_MAGIC) return DecodeStatus::BadMagic;
  if (record->abi_version != SNIFFER_ABI_VERSION) return DecodeStatus::BadVersion;
  if (record->record_len != sizeof(sniffer_flow_record)) return DecodeStatus::BadLength;
  return DecodeStatus::Ok;
}

DecodeStatus decode_drop_record(const void* data, std::size_t size, sniffer_drop_record& out) {
  return decode_fixed(data, size, SNIFFER_DROP_RECORD_MAGIC, out);
}

}  // namespace sniffer
