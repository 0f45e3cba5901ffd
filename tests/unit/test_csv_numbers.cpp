// The CSV's number writers (src/flows/csv_cells.hpp) against std::to_chars,
// the text they must reproduce byte for byte: every integer type the columns
// use and doubles, over edge values (digit-count and path boundaries, signs,
// 2^53, non-finite) and millions of pseudo-random values of every size.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// The writers have internal linkage (flow_csv.cpp's own): this file's copy
// is the same code; the ones it does not call are not its concern.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../../src/flows/csv_cells.hpp"
#pragma GCC diagnostic pop

namespace sniffer::csv_cells {
namespace {

template <typename T>
std::string reference(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (v == 0 || !std::isfinite(v)) return "0";  // the CSV's zero for -0, NaN and +-inf
  }
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

template <typename T>
std::string written(T v) {
  char room[128];
  std::memset(room, 'x', sizeof room);
  char* const end = put(room, v);
  return std::string(room, static_cast<std::size_t>(end - room));
}

std::uint64_t next(std::uint64_t& x) {  // xorshift64
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// Powers of ten and their neighbours, the writers' size and path boundaries.
std::vector<std::uint64_t> edges() {
  std::vector<std::uint64_t> out = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 10000, 10001, 99999,
                                    100000, 100001, 99'999'999, 100'000'000, 100'000'001};
  for (std::uint64_t p = 10; p <= 1'000'000'000'000'000'000ull; p *= 10) {
    for (std::uint64_t d : {p - 1, p, p + 1, 2 * p, 9 * p + p - 1}) out.push_back(d);
  }
  return out;
}

TEST(CsvNumbers, IntegersAreToCharsText) {
  std::vector<std::uint64_t> values = edges();
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 1'000'000; ++i) values.push_back(next(x) >> (next(x) % 64));  // every size
  for (std::uint32_t v = 0; v < 200'000; ++v) values.push_back(v);                  // every value of the short paths
  values.push_back(std::numeric_limits<std::uint64_t>::max());
  for (std::uint64_t v : values) {
    ASSERT_EQ(written(v), reference(v)) << v;
    const auto v32 = static_cast<std::uint32_t>(v);
    ASSERT_EQ(written(v32), reference(v32)) << v32;
    const auto i32 = static_cast<std::int32_t>(v);
    ASSERT_EQ(written(i32), reference(i32)) << i32;
  }
}

// Whole doubles near every path boundary (five digits, 2^31, 2^53), with
// both signs, and fractions close to whole numbers.
TEST(CsvNumbers, EdgeDoublesAreToCharsText) {
  std::vector<double> values = {0.0, -0.0, std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest(), 2147483647.0, 2147483648.0, -2147483648.0,
                                -2147483649.0, 9007199254740991.0, 9007199254740992.0, 9007199254740993.0,
                                1e15, 1e16, 1e17, 1e21, 1e22, 1e23, 0.1, 0.5, 1e-6, 1e-7};
  for (std::uint64_t e : edges()) {
    const auto d = static_cast<double>(e);
    for (double v : {d, std::nextafter(d, 0.0), std::nextafter(d, 1e300), d + 0.5, d - 0.5, d * 1e-6, d * 1e-3}) {
      values.push_back(v);
      values.push_back(-v);
    }
  }
  for (double v : values) ASSERT_EQ(written(v), reference(v)) << v;
}

// Millions of doubles: whole numbers of every size, microseconds and their
// means (integers / 1e3, / n), rates, random bit patterns (every exponent,
// sign, subnormals, NaNs).
TEST(CsvNumbers, RandomDoublesAreToCharsText) {
  std::uint64_t x = 0x2545f4914f6cdd1dull;
  for (int i = 0; i < 500'000; ++i) {
    const std::uint64_t r = next(x);
    const int shift = static_cast<int>(next(x) % 64);
    const double whole = static_cast<double>(r >> shift);
    double bits_value;
    const std::uint64_t bits = next(x);
    std::memcpy(&bits_value, &bits, sizeof bits_value);
    for (double v : {whole, -whole, whole * 1e-3, whole / static_cast<double>(1 + next(x) % 9), 1e6 / (1.0 + whole),
                     bits_value}) {
      ASSERT_EQ(written(v), reference(v)) << v;
    }
  }
}

}  // namespace
}  // namespace sniffer::csv_cells
