// Flow features with hand-computed expected values: lengths, rates,
// inter-arrival times, flags, windows, bulks, active/idle periods, subflows.
#include <cmath>
#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "flow_packets.hpp"

namespace sniffer::test {
namespace {

TEST_F(FlowTableTest, SinglePacketFlow) {
  FlowTable t = make();
  t.add(packet(0, true, 100));
  t.flush(v1::FLOW_END_END_OF_CAPTURE);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  EXPECT_EQ(r.end_reason(), v1::FLOW_END_END_OF_CAPTURE);
  EXPECT_EQ(r.fwd().packets(), 1u);
  EXPECT_EQ(r.fwd().bytes(), 14u + 28 + 100);
  EXPECT_EQ(r.fwd().payload_bytes(), 100u);
  EXPECT_EQ(r.fwd().header_bytes(), 28u);
  EXPECT_EQ(r.bwd().packets(), 0u);
  EXPECT_EQ(r.duration_us(), 0.0);
  EXPECT_EQ(r.iat_us().count(), 0u);
  EXPECT_EQ(r.fwd().iat_us().count(), 0u);
  EXPECT_EQ(r.payload_length().mean(), 100.0);
  EXPECT_EQ(r.payload_length().std(), 0.0);  // one value: no spread, not NaN
  EXPECT_EQ(r.bytes_per_second(), 0.0);      // zero duration: 0, not infinity
  EXPECT_EQ(r.packets_per_second(), 0.0);
  EXPECT_EQ(r.down_up_ratio(), 0.0);
  EXPECT_EQ(r.subflow_count(), 1u);
  EXPECT_EQ(r.active_us().count(), 0u);
  EXPECT_EQ(r.idle_us().count(), 0u);
  EXPECT_EQ(r.fwd().init_window(), -1);  // not TCP
  EXPECT_EQ(r.conn_state(), "S0");       // UDP, one way (as Zeek)
  EXPECT_EQ(r.direction(), v1::FLOW_DIRECTION_UNSPECIFIED);  // the flow output classifies it
  EXPECT_EQ(r.ifindex(), 3u);
  EXPECT_EQ(r.role(), v1::ROLE_WAN);
}

TEST_F(FlowTableTest, BothDirectionsShareOneFlowAndTheFirstPacketIsForward) {
  FlowTable t = make();
  // The server speaks first: it is the "source" of the flow, though its
  // address sorts lower.
  t.add(packet(0, false, 10));
  t.add(packet(1 * kMs, true, 20));
  t.add(packet(3 * kMs, true, 0));
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  char buf[INET_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, r.src_addr().data(), buf, sizeof(buf)), "192.0.2.10");
  EXPECT_EQ(r.src_port(), 80u);
  EXPECT_EQ(r.dst_port(), 40000u);
  EXPECT_EQ(r.fwd().packets(), 1u);
  EXPECT_EQ(r.bwd().packets(), 2u);
  EXPECT_EQ(r.bwd().payload_bytes(), 20u);
  EXPECT_EQ(r.bwd().data_packets(), 1u);  // the zero-length one is not data
  EXPECT_DOUBLE_EQ(r.bwd().iat_us().mean(), 2000.0);
  EXPECT_DOUBLE_EQ(r.iat_us().mean(), 1500.0);  // 1 ms, 2 ms
  EXPECT_DOUBLE_EQ(r.iat_us().std(), std::sqrt(0.5) * 1000.0);
  EXPECT_DOUBLE_EQ(r.down_up_ratio(), 2.0);
  EXPECT_DOUBLE_EQ(r.duration_us(), 3000.0);
  EXPECT_DOUBLE_EQ(r.bytes_per_second(), 30.0 / 0.003);
  EXPECT_DOUBLE_EQ(r.packets_per_second(), 3.0 / 0.003);
  EXPECT_DOUBLE_EQ(r.bwd().packets_per_second(), 2.0 / 0.003);
}

TEST_F(FlowTableTest, TcpConnectionFeaturesAndTeardown) {
  FlowTableConfig cfg;
  cfg.tcp_close_grace_ns = 2 * kSec;
  FlowTable t = make(cfg);
  t.add(tcp(0, true, SYN, 0, 64240));
  t.add(tcp(1 * kMs, false, SYN | ACK, 0, 65160));
  t.add(tcp(2 * kMs, true, ACK));
  t.add(tcp(3 * kMs, true, PSH | ACK, 100));
  t.add(tcp(5 * kMs, false, PSH | ACK, 300));
  t.add(tcp(6 * kMs, true, FIN | ACK));
  t.add(tcp(7 * kMs, false, FIN | ACK));
  t.add(tcp(8 * kMs, true, ACK));  // the last ACK, inside the grace
  EXPECT_TRUE(out.empty());
  t.expire(kT0 + 7 * kMs + 2 * kSec - 1);  // grace counted from the second FIN
  EXPECT_TRUE(out.empty());
  t.expire(kT0 + 7 * kMs + 2 * kSec);
  ASSERT_EQ(out.size(), 1u);
  const auto& r = out[0];
  EXPECT_EQ(r.end_reason(), v1::FLOW_END_FIN);
  EXPECT_EQ(r.fwd().packets(), 5u);
  EXPECT_EQ(r.bwd().packets(), 3u);
  EXPECT_EQ(r.fwd().payload_bytes(), 100u);
  EXPECT_EQ(r.bwd().payload_bytes(), 300u);
  EXPECT_EQ(r.fwd().init_window(), 64240);
  EXPECT_EQ(r.bwd().init_window(), 65160);
  EXPECT_EQ(r.syn_count(), 2u);
  EXPECT_EQ(r.fin_count(), 2u);
  EXPECT_EQ(r.ack_count(), 7u);
  EXPECT_EQ(r.psh_count(), 2u);
  EXPECT_EQ(r.fwd().psh_count(), 1u);
  EXPECT_EQ(r.bwd().psh_count(), 1u);
  EXPECT_EQ(r.rst_count(), 0u);
  EXPECT_EQ(r.fwd().data_packets(), 1u);
  EXPECT_EQ(r.fwd().header_bytes(), 5u * 40);
  EXPECT_EQ(r.fwd().min_header_bytes(), 40u);
  // fwd payload lengths 0,0,100,0,0: mean 20, sample std sqrt(2000)
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().mean(), 20.0);
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().std(), std::sqrt(2000.0));
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().max(), 100.0);
  EXPECT_DOUBLE_EQ(r.fwd().payload_length().min(), 0.0);
  // fwd arrivals 0,2,3,6,8 ms: gaps 2,1,3,2 ms
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().total(), 8000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().min(), 1000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().max(), 3000.0);
  EXPECT_DOUBLE_EQ(r.fwd().iat_us().mean(), 2000.0);
  EXPECT_EQ(r.conn_state(), "SF");
  EXPECT_EQ(r.history(), "ShADdFf");  // the responder never sent a pure ACK
  EXPECT_EQ(r.active_us().count(), 1u);
  EXPECT_DOUBLE_EQ(r.active_us().mean(), 8000.0);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.counters().by_reason[v1::FLOW_END_FIN], 1u);
}

TEST_F(FlowTableTest, BulkNeedsFourDataPacketsWithoutDataFromTheOtherSide) {
  FlowTable t = make();
  // fwd data at 0, 100, 200, 300, 400 ms (a bulk of 5), then bwd data
  // breaks it, then two more fwd data packets (no second bulk).
  for (int i = 0; i < 5; ++i) t.add(packet(static_cast<std::uint64_t>(i) * 100 * kMs, true, 1000));
  t.add(packet(450 * kMs, false, 10));
  t.add(packet(500 * kMs, true, 1000));
  t.add(packet(600 * kMs, true, 1000));
  t.flush(v1::FLOW_END_SHUTDOWN);
  const auto& f = out[0].fwd();
  EXPECT_EQ(f.bulk_count(), 1u);
  EXPECT_EQ(f.bulk_packets(), 5u);
  EXPECT_EQ(f.bulk_bytes(), 5000u);
  EXPECT_DOUBLE_EQ(f.bulk_duration_us(), 400000.0);
  EXPECT_EQ(out[0].bwd().bulk_count(), 0u);
}

TEST_F(FlowTableTest, ActiveIdleAndSubflows) {
  FlowTable t = make();  // activity timeout 5 s, subflow gap 1 s
  t.add(packet(0, true, 1));
  t.add(packet(1 * kSec, true, 1));
  t.add(packet(7 * kSec, true, 1));   // 6 s idle
  t.add(packet(7500 * kMs, true, 1));  // 0.5 s: same subflow
  t.add(packet(9 * kSec, true, 1));   // 1.5 s: new subflow, still active
  t.flush(v1::FLOW_END_SHUTDOWN);
  const auto& r = out[0];
  ASSERT_EQ(r.active_us().count(), 2u);  // [0, 1 s] and [7 s, 9 s]
  EXPECT_DOUBLE_EQ(r.active_us().min(), 1e6);
  EXPECT_DOUBLE_EQ(r.active_us().max(), 2e6);
  ASSERT_EQ(r.idle_us().count(), 1u);
  EXPECT_DOUBLE_EQ(r.idle_us().mean(), 6e6);
  EXPECT_EQ(r.subflow_count(), 3u);  // gaps > 1 s at 7 s and 9 s
}

TEST(FlowMoments, SumsOfSquaresAreExactBeyond64Bits) {
  // Ten inter-arrival times of 2^40 ns and one of 2^40 + 1: their squares
  // overflow 64 bits; the standard deviation must still come out exact.
  sniffer_moments m{};
  const std::uint64_t x = 1ull << 40;
  for (int i = 0; i < 10; ++i) sniffer_moments_add(&m, x);
  sniffer_moments_add(&m, x + 1);
  EXPECT_EQ(m.count, 11u);
  EXPECT_EQ(m.sum, 11 * x + 1);
  const unsigned __int128 sumsq = (static_cast<unsigned __int128>(m.sumsq_hi) << 64) | m.sumsq_lo;
  EXPECT_TRUE(sumsq == static_cast<unsigned __int128>(x) * x * 11 + 2 * static_cast<unsigned __int128>(x) + 1);
  EXPECT_EQ(m.min, x);
  EXPECT_EQ(m.max, x + 1);
}

TEST_F(FlowTableTest, StdComesFromTheExactSums) {
  // IATs of 1e9 + {0, 1, 2} ns: a double sum of squares (about 3e18) cannot
  // hold the difference; the integer state gives the exact sample std.
  FlowTable t = make();
  t.add(packet(0, true, 1));
  t.add(packet(1'000'000'000, true, 1));
  t.add(packet(2'000'000'001, true, 1));
  t.add(packet(3'000'000'003, true, 1));
  t.flush(v1::FLOW_END_SHUTDOWN);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_DOUBLE_EQ(out[0].fwd().iat_us().mean(), 1'000'000.001);
  EXPECT_DOUBLE_EQ(out[0].fwd().iat_us().std(), 1e-3);  // sample std of {0, 1, 2} ns, in us
}

TEST(FlowMemory, BytesPerFlowAreFixed) {
  // Per flow: the slot (state + LRU links, cached hash, update deadline) and
  // its share of the open-addressing index (FlowIndex: 8-byte buckets, at
  // least 2 per flow: 2 when max_flows is a power of two, under 4 otherwise),
  // independent of the packet count.
  constexpr std::size_t kIndexBuckets = 2 * 8;
  std::size_t per_flow = sizeof(FlowState) + 32 + kIndexBuckets;
  std::printf("sizeof(FlowState) = %zu bytes; about %zu bytes per flow with the index\n", sizeof(FlowState), per_flow);
  EXPECT_LE(per_flow, 1024u);
}

// The statistics as they were first written, all in long double: the record
// must keep these very doubles (the CSV digests depend on them) whatever
// shortcut computes them.
double mean_reference(const sniffer_moments& m) {
  return static_cast<double>(static_cast<long double>(m.sum) / static_cast<long double>(m.count));
}
double std_reference(const sniffer_moments& m) {
  if (m.count < 2) return 0.0;
  const long double n = static_cast<long double>(m.count);
  const unsigned __int128 sumsq = (static_cast<unsigned __int128>(m.sumsq_hi) << 64) | m.sumsq_lo;
  const unsigned __int128 square = static_cast<unsigned __int128>(m.sum) * m.sum;
  const unsigned __int128 q = square / m.count, r = square % m.count;
  const unsigned __int128 whole = sumsq >= q ? sumsq - q : 0;
  long double m2 = static_cast<long double>(whole) - static_cast<long double>(r) / n;
  if (m2 < 0) m2 = 0;
  return static_cast<double>(std::sqrt(m2 / (n - 1)));
}

// Random moments on both sides of the shortcuts' bounds (n < 2^11, sum < 2^53,
// sum^2 < 2^64): mean and std equal the long double computation's, bit for bit.
TEST(FlowStats, MeanAndStdEqualTheLongDoubleOnes) {
  std::mt19937_64 rng(14);
  for (int i = 0; i < 200000; ++i) {
    sniffer_flow_state s{};
    sniffer_moments& m = s.iat_ns;
    m.count = 1 + rng() % (i % 2 ? 4096 : 16);
    const int bits = static_cast<int>(rng() % 62);
    const std::uint64_t value_max = (std::uint64_t{1} << bits) / m.count + 1;  // sum below 2^62
    for (std::uint64_t k = 0; k < m.count && k < 64; ++k) {  // the first values, the rest as their mean
      const std::uint64_t v = rng() % value_max;
      m.sum += v;
      const unsigned __int128 sq = static_cast<unsigned __int128>(v) * v;
      const std::uint64_t lo = m.sumsq_lo + static_cast<std::uint64_t>(sq);
      m.sumsq_hi += static_cast<std::uint64_t>(sq >> 64) + (lo < m.sumsq_lo ? 1 : 0);
      m.sumsq_lo = lo;
    }
    if (m.count > 64) {
      const std::uint64_t v = m.sum / 64, more = m.count - 64;
      m.sum += v * more;
      const unsigned __int128 sq = static_cast<unsigned __int128>(v) * v * more;
      const std::uint64_t lo = m.sumsq_lo + static_cast<std::uint64_t>(sq);
      m.sumsq_hi += static_cast<std::uint64_t>(sq >> 64) + (lo < m.sumsq_lo ? 1 : 0);
      m.sumsq_lo = lo;
    }
    v1::FlowRecord r;
    FlowState(s).to_proto(r, v1::FLOW_END_END_OF_CAPTURE, false);
    ASSERT_EQ(r.iat_us().mean(), mean_reference(m) * 1e-3) << m.sum << " / " << m.count;
    ASSERT_EQ(r.iat_us().std(), std_reference(m) * 1e-3) << m.sum << " / " << m.count;
  }
}

}  // namespace
}  // namespace sniffer::test
