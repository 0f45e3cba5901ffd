// The CSV's cell writers (flow_csv.cpp's only): numbers as std::to_chars's
// shortest text, RFC 4180 text, the ISO 8601 timestamp. Every writer takes the
// write position and returns the one after what it wrote.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <type_traits>

// Internal linkage, as when they were flow_csv.cpp's own: GCC then inlines
// them into the row writer as it did (with external linkage it inlined less:
// +5 % instructions a run). Included by flow_csv.cpp only.
namespace sniffer::csv_cells {
namespace {

// ---- cell formatting ------------------------------------------------------
// Cells are written in place into room reserved for the whole row (to_chars,
// no temporary strings, no capacity check per character): a flood capture
// writes a row for every few packets. Every writer takes the position and
// returns the one after what it wrote (kept in a register, not in memory).

char* put_chars(char* at, std::string_view s) {
  if (!s.empty()) std::memcpy(at, s.data(), s.size());  // an empty view's data() may be null: UB for memcpy
  return at + s.size();
}

// Numbers are written straight into the row's room (no copy from a buffer):
// at most 24 characters, within the 64 reserved a cell.
constexpr std::ptrdiff_t kNumberRoom = 32;

// "00" to "99": two digits in one 2-byte copy.
constexpr char kPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Exactly eight digits of v (< 10^8), two at a time from a table.
// Halves of four digits, then pairs: two steps of dependent divisions, not four.
char* put_8_digits(char* at, std::uint32_t v) {
  const std::uint32_t high = v / 10000, low = v % 10000;
  std::memcpy(at, kPairs + 2 * (high / 100), 2);
  std::memcpy(at + 2, kPairs + 2 * (high % 100), 2);
  std::memcpy(at + 4, kPairs + 2 * (low / 100), 2);
  std::memcpy(at + 6, kPairs + 2 * (low % 100), 2);
  return at + 8;
}

// v >= 10^8 (the nanosecond times: 19 digits) in chunks of eight digits:
// 32-bit arithmetic, the chunks independent of each other; to_chars's text.
// The digits above the last eight are kept for the last two values: a row's
// start_ns and end_ns, and the next rows' (in time order), share them for a
// tenth of a second at a time.
[[gnu::noinline]] char* put_large(char* at, std::uint64_t v) {
  struct High {
    std::uint64_t value = 0;  // 0: empty (v >= 10^8 has a high part of at least 1)
    std::uint8_t len = 0;
    char text[16];  // up to 12 digits: 2^64 / 10^8 < 2 * 10^11
  };
  thread_local High kept[2];
  thread_local unsigned older = 0;  // the entry to replace next
  const std::uint64_t high = v / 100'000'000;
  const auto low = static_cast<std::uint32_t>(v % 100'000'000);
  const unsigned i = kept[0].value == high ? 0 : kept[1].value == high ? 1 : older;
  High& h = kept[i];
  older = i ^ 1;
  if (h.value != high) {
    char* end = h.text;
    if (high < 100'000'000) {
      end = std::to_chars(end, h.text + sizeof h.text, static_cast<std::uint32_t>(high)).ptr;
    } else {
      end = std::to_chars(end, h.text + sizeof h.text, static_cast<std::uint32_t>(high / 100'000'000)).ptr;
      end = put_8_digits(end, static_cast<std::uint32_t>(high % 100'000'000));
    }
    h.value = high;
    h.len = static_cast<std::uint8_t>(end - h.text);
  }
  std::memcpy(at, h.text, sizeof h.text);  // a number's room is kNumberRoom
  return put_8_digits(at + h.len, low);
}

template <typename Int>
  requires std::is_integral_v<Int>
char* put(char* at, Int v) {
  if (v >= 0 && v < 10) {  // most counts and flags of a short flow: one digit, no digit count
    *at = static_cast<char>('0' + v);
    return at + 1;
  }
  if constexpr (sizeof(Int) == 8) {
    if (v >= 100'000'000) return put_large(at, static_cast<std::uint64_t>(v));
  }
  return std::to_chars(at, at + kNumberRoom, v).ptr;
}

// std::to_chars's shortest text of a double that is not a whole number (~570
// instructions a call), through a small cache of the last values written: a
// row states many statistics twice (CIC's "Avg Fwd Segment Size" is "Fwd
// Packet Length Mean"; a one-way flow's "Packet Length Std", "Flow IAT Std",
// "Flow Packets/s" are its forward direction's), and a copy of the text costs
// a few. Direct-mapped by the value's bits, eight entries a thread.
char* put_fraction(char* at, double v) {
  struct Entry {
    std::uint64_t bits = 0;  // 0 is +0.0, never formatted here: an empty entry
    std::uint8_t len = 0;
    char text[kNumberRoom - 1];
  };
  thread_local Entry cache[8];
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Entry& e = cache[(bits * 0x9e3779b97f4a7c15ull) >> 61];
  if (e.bits == bits) {
    std::memcpy(at, e.text, sizeof e.text);  // the room holds kNumberRoom: the row's room, 64 bytes a cell
    return at + e.len;
  }
  char* const end = std::to_chars(at, at + kNumberRoom, v).ptr;
  e.bits = bits;
  e.len = static_cast<std::uint8_t>(end - at);
  std::memcpy(e.text, at, sizeof e.text);
  return end;
}

// Shortest text that reads back as the same double; NaN and +-inf become 0,
// and so does -0. Whole numbers below 2^53 (most cells of a short flow) take
// integer formatting, ~5x faster, when it gives to_chars's text: its digits
// are then the shortest, and to_chars writes them in fixed notation unless
// scientific is shorter (1000000 -> "1e+06"; a tie goes to fixed).
// Whole: the conversion to an integer and back gives v (one instruction each
// way; std::trunc is a library call without SSE4.1).
[[gnu::noinline]] char* put_nonzero(char* at, double v) {
  if (std::fabs(v) < 9007199254740992.0) {  // 2^53 (false for NaN)
    const auto n = static_cast<std::int64_t>(v);
    if (static_cast<double>(n) != v) return put_fraction(at, v);
    if (n > -100000 && n < 100000) return put(at, n);  // five digits or fewer: never shorter in scientific notation
    char* digits_at = at + (n < 0 ? 1 : 0);
    char* const end = std::to_chars(digits_at, digits_at + kNumberRoom, n < 0 ? -n : n).ptr;
    const auto digits = static_cast<int>(end - digits_at);
    int significant = digits;
    while (significant > 1 && digits_at[significant - 1] == '0') --significant;
    const int scientific = significant + (significant > 1 ? 1 : 0) + 4;  // d[.ddd]e+XX (exponent < 100)
    if (digits <= scientific) {
      if (n < 0) *at = '-';
      return end;
    }
  } else if (!std::isfinite(v)) {
    *at = '0';
    return at + 1;
  }
  return std::to_chars(at, at + kNumberRoom, v).ptr;  // overwrites the digits tried above
}

// Zero, most cells of a short flow, in the cell itself.
[[gnu::always_inline]] inline char* put(char* at, double v) {
  if (v == 0.0) {
    *at = '0';
    return at + 1;
  }
  return put_nonzero(at, v);
}

// a / b, 0 when b is 0 (and never NaN or inf).
double ratio(double a, double b) { return b != 0.0 ? a / b : 0.0; }

// RFC 4180: quoted when the text holds a comma, a quote, CR or LF; quotes doubled.
// One pass over the text (find_first_of would call memchr per character).
bool needs_quotes(std::string_view s) {
  for (char c : s) {
    if (c == ',' || c == '"' || c == '\r' || c == '\n') return true;
  }
  return false;
}

char* put_text(char* at, std::string_view s) {
  if (!needs_quotes(s)) return put_chars(at, s);
  *at++ = '"';
  for (char c : s) {
    if (c == '"') *at++ = '"';
    *at++ = c;
  }
  *at++ = '"';
  return at;
}

// ".123456Z": the microseconds of ns, truncated.
char* put_micros(char* at, std::uint64_t ns) {
  const auto micros = static_cast<std::uint32_t>((ns / 1000ull) % 1'000'000ull);
  at[0] = '.';
  std::memcpy(at + 1, kPairs + 2 * (micros / 10000), 2);
  std::memcpy(at + 3, kPairs + 2 * (micros / 100 % 100), 2);
  std::memcpy(at + 5, kPairs + 2 * (micros % 100), 2);
  at[7] = 'Z';
  return at + 8;
}

// ISO 8601 UTC with microseconds (truncated): 2017-07-05T09:00:00.123456Z.
// The date and time of the last second formatted are kept: rows come in time
// order, many in the same second. Their usual 19 characters are one
// constant-size copy.
char* put_iso_utc(char* at, std::uint64_t ns) {
  constexpr std::size_t kDateTime = 19;  // 2017-07-05T09:00:00 (a year of four digits)
  thread_local std::time_t last_secs = -1;
  thread_local std::size_t last_len = 0;
  thread_local char last_text[64];
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000ull);
  if (secs != last_secs) {
    std::tm tm{};
    last_len = gmtime_r(&secs, &tm) ? std::strftime(last_text, sizeof(last_text), "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    last_secs = secs;
  }
  if (last_len == kDateTime) {
    std::memcpy(at, last_text, kDateTime);
  } else if (last_len == 0) {
    return at;  // a time gmtime cannot express: an empty cell, as before
  } else {
    std::memcpy(at, last_text, last_len);
  }
  return put_micros(at + last_len, ns);
}

}  // namespace
}  // namespace sniffer::csv_cells
