// Ring record validation and record -> PacketEvent conversion.
#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sniffer/event_codec.hpp"
#include "sniffer/event_json.hpp"
#include "sniffer/record.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {
namespace {

std::vector<std::uint8_t> sample(std::uint32_t capacity, const std::string& snippet = "") {
  std::vector<std::uint8_t> buf(sizeof(sniffer_record) + capacity, 0);
  sniffer_record r{};
  r.magic = SNIFFER_RECORD_MAGIC;
  r.abi_version = SNIFFER_ABI_VERSION;
  r.record_len = static_cast<__u16>(sizeof(sniffer_record) + capacity);
  r.snippet_len = static_cast<__u16>(snippet.size());
  std::memcpy(buf.data(), &r, sizeof(r));
  std::memcpy(buf.data() + sizeof(r), snippet.data(), snippet.size());
  return buf;
}

sniffer_record& header_of(std::vector<std::uint8_t>& buf) { return *reinterpret_cast<sniffer_record*>(buf.data()); }

TEST(RecordDecode, AcceptsAWellFormedRecord) {
  auto buf = sample(8, "abc");
  DecodedRecord out;
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 8, out), DecodeStatus::Ok);
  EXPECT_EQ(std::string(out.snippet.begin(), out.snippet.end()), "abc");
}

TEST(RecordDecode, RejectsWhatItDoesNotKnow) {
  DecodedRecord out;
  auto buf = sample(0);
  EXPECT_EQ(decode_record(buf.data(), 30, 0, out), DecodeStatus::TooShort);  // the 30-byte event of old

  header_of(buf).magic = 0xdeadbeef;
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 0, out), DecodeStatus::BadMagic);

  buf = sample(0);
  header_of(buf).abi_version = SNIFFER_ABI_VERSION + 1;
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 0, out), DecodeStatus::BadVersion);

  buf = sample(16);
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 0, out), DecodeStatus::BadLength);  // an area beyond the capacity
  EXPECT_EQ(decode_record(buf.data(), buf.size() - 8, 16, out), DecodeStatus::BadLength);  // sample too short

  buf = sample(4);
  header_of(buf).snippet_len = 5;
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 4, out), DecodeStatus::BadSnippet);

  buf = sample(8, "abcdefgh");  // an area of 8 under a capacity of 64: the snippet must fit the area
  header_of(buf).snippet_len = 9;
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 64, out), DecodeStatus::BadSnippet);
  header_of(buf).record_len = sizeof(sniffer_record) - 8;  // shorter than the fixed record
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 64, out), DecodeStatus::BadLength);
}

TEST(RecordDecode, TheSnippetAreaIsUpToTheCapacity) {
  // Since ABI 9 a short snippet takes an area of its length rounded up to 8
  // (abi.h): every area from 0 to the capacity is well formed.
  DecodedRecord out;
  auto buf = sample(24, "0123456789abcdefgh");
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 64, out), DecodeStatus::Ok);
  EXPECT_EQ(std::string(out.snippet.begin(), out.snippet.end()), "0123456789abcdefgh");
  buf = sample(0);
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 64, out), DecodeStatus::Ok);
  EXPECT_TRUE(out.snippet.empty());
  buf = sample(72);  // beyond the capacity
  EXPECT_EQ(decode_record(buf.data(), buf.size(), 64, out), DecodeStatus::BadLength);
}

// A flow record is checked where it lies when it is aligned for it (no copy
// of its 776 bytes), else copied; either way the same checks and the same record.
TEST(FlowRecordDecode, InPlaceWhenAlignedCopiedOtherwise) {
  sniffer_flow_record r{};
  r.magic = SNIFFER_FLOW_RECORD_MAGIC;
  r.abi_version = SNIFFER_ABI_VERSION;
  r.record_len = sizeof(sniffer_flow_record);
  r.end_reason = SNIFFER_FLOW_END_IDLE_TIMEOUT;
  r.state.flow_id = 42;
  r.state.last_ts = 123456789;
  // Room for the record at an 8-byte boundary and one byte past it.
  std::vector<std::uint64_t> words(sizeof(sniffer_flow_record) / 8 + 2);
  auto* aligned = reinterpret_cast<std::uint8_t*>(words.data());
  for (std::uint8_t* at : {aligned, aligned + 1}) {
    std::memcpy(at, &r, sizeof r);
    sniffer_flow_record scratch{};
    const sniffer_flow_record* record = nullptr;
    ASSERT_EQ(decode_flow_record(at, sizeof r, scratch, record), DecodeStatus::Ok);
    EXPECT_EQ(static_cast<const void*>(record), at == aligned ? static_cast<const void*>(at) : &scratch);
    EXPECT_EQ(std::memcmp(record, &r, sizeof r), 0);

    EXPECT_EQ(decode_flow_record(at, sizeof r - 8, scratch, record), DecodeStatus::TooShort);
    sniffer_flow_record bad = r;
    bad.magic = SNIFFER_RECORD_MAGIC;
    std::memcpy(at, &bad, sizeof bad);
    EXPECT_EQ(decode_flow_record(at, sizeof r, scratch, record), DecodeStatus::BadMagic);
    bad = r;
    bad.abi_version = SNIFFER_ABI_VERSION + 1;
    std::memcpy(at, &bad, sizeof bad);
    EXPECT_EQ(decode_flow_record(at, sizeof r, scratch, record), DecodeStatus::BadVersion);
    bad = r;
    bad.record_len = sizeof(sniffer_flow_record) - 8;
    std::memcpy(at, &bad, sizeof bad);
    EXPECT_EQ(decode_flow_record(at, sizeof r, scratch, record), DecodeStatus::BadLength);
  }
}

TEST(EventCodec, AddressesStayInNetworkOrderAndTimeBecomesWallClock) {
  auto buf = sample(0);
  sniffer_record& r = header_of(buf);
  r.ip_version = 4;
  inet_pton(AF_INET, "198.51.100.10", r.saddr);
  inet_pton(AF_INET, "192.0.2.10", r.daddr);
  r.sport = 40000;
  r.dport = 53;
  r.l4_proto = 17;
  r.ifindex = 7;
  r.hook = SNIFFER_HOOK_TC_EGRESS;
  r.mode = SNIFFER_MODE_HOST_BASED;
  r.is_wan_facing = 1;
  r.vlan_count = 1;
  r.vlan_ids[0] = 42;
  r.ts_mono_ns = monotonic_now_ns();

  DecodedRecord rec;
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 0, rec), DecodeStatus::Ok);
  InterfaceInfo iface{"wan0", 7, Role::Wan, Mode::HostBased};
  MonotonicToWall clock;
  v1::PacketEvent e;
  record_to_event(rec, &iface, clock.to_wall_ns(r.ts_mono_ns), e);

  EXPECT_EQ(e.src_addr(), std::string("\xc6\x33\x64\x0a", 4));  // 198.51.100.10 as on the wire
  EXPECT_EQ(address_to_string(e.dst_addr()), "192.0.2.10");
  EXPECT_EQ(e.src_port(), 40000u);
  EXPECT_EQ(e.interface(), "wan0");
  EXPECT_EQ(e.role(), v1::ROLE_WAN);
  EXPECT_EQ(e.mode(), v1::MODE_HOST_BASED);
  EXPECT_EQ(e.hook(), v1::HOOK_TC_EGRESS);
  EXPECT_EQ(e.vlan_ids_size(), 1);
  EXPECT_EQ(e.vlan_ids(0), 42u);
  // Wall time: within a second of now, and far from the boot-relative stamp.
  auto now = static_cast<std::int64_t>(realtime_now_ns());
  EXPECT_LT(std::llabs(static_cast<std::int64_t>(e.timestamp_ns()) - now), 1000000000LL);
  EXPECT_EQ(e.monotonic_ns(), r.ts_mono_ns);

  nlohmann::json j = event_to_json(e);
  EXPECT_EQ(j["src_addr"], "198.51.100.10");
  EXPECT_EQ(j["hook"], "tc_egress");
  EXPECT_EQ(j["role"], "wan");
}

TEST(EventCodec, Ipv6AndUnknownInterface) {
  auto buf = sample(4, "GET ");
  sniffer_record& r = header_of(buf);
  r.ip_version = 6;
  inet_pton(AF_INET6, "2001:db8:100::10", r.saddr);
  inet_pton(AF_INET6, "2001:db8:200::10", r.daddr);
  DecodedRecord rec;
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 4, rec), DecodeStatus::Ok);
  v1::PacketEvent e;
  record_to_event(rec, nullptr, 0, e);
  EXPECT_EQ(e.src_addr().size(), 16u);
  EXPECT_EQ(address_to_string(e.src_addr()), "2001:db8:100::10");
  EXPECT_EQ(e.interface(), "");
  EXPECT_EQ(e.payload(), "GET ");
  EXPECT_EQ(event_to_json(e)["payload_hex"], "47455420");
}

TEST(EventCodec, NonIpHasNoAddresses) {
  auto buf = sample(0);
  header_of(buf).ethertype = 0x0806;
  DecodedRecord rec;
  ASSERT_EQ(decode_record(buf.data(), buf.size(), 0, rec), DecodeStatus::Ok);
  v1::PacketEvent e;
  record_to_event(rec, nullptr, 0, e);
  EXPECT_TRUE(e.src_addr().empty());
  EXPECT_EQ(e.ethertype(), 0x0806u);
}

TEST(WallClock, OffsetIsRealtimeMinusMonotonic) {
  MonotonicToWall clock;
  std::int64_t expected = static_cast<std::int64_t>(realtime_now_ns()) - static_cast<std::int64_t>(monotonic_now_ns());
  EXPECT_LT(std::llabs(clock.offset_ns() - expected), 1000000LL);
}

}  // namespace
}  // namespace sniffer
