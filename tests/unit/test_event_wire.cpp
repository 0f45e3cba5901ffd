// Packet events encoded straight from records (EventWireBatch) are the very
// bytes libprotobuf writes for the same EventBatch, and parse back to the
// record's values. (The bpf tier does the same with the test captures'
// real records: tests/bpf/test_event_wire_pcaps.cpp.)
#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <deque>
#include <random>

#include <gtest/gtest.h>

#include "event_encodings.hpp"

namespace sniffer::test {
namespace {

const InterfaceInfo kWan{"wan0", 7, Role::Wan, Mode::Gateway};
const InterfaceInfo kLongName{"enp0s31f6.4094x", 9, Role::Lan, Mode::HostBased};  // IFNAMSIZ - 1 bytes
const InterfaceInfo kEmptyName{"", 3, Role::Lan, Mode::Gateway};

// Every field set: IPv6, two VLAN tags, TCP with every flag, a snippet.
EventInput all_fields_set(std::vector<std::uint8_t>& snippet) {
  EventInput in;
  sniffer_record& r = in.record.header;
  r.ts_mono_ns = 123456789012345ull;
  r.ifindex = 7;
  r.wire_len = 1514;
  r.hook = SNIFFER_HOOK_TC_INGRESS;
  r.mode = SNIFFER_MODE_HOST_BASED;
  r.is_wan_facing = 1;
  r.ip_version = 6;
  r.l4_proto = 6;
  r.tcp_flags = 0xff;
  r.ttl = 255;
  r.vlan_count = 2;
  r.ethertype = 0x86dd;
  r.vlan_ids[0] = 4094;
  r.vlan_ids[1] = 1;
  r.sport = 65535;
  r.dport = 443;
  r.tcp_window = 65535;
  r.l3_hdr_len = 40;
  r.l4_hdr_len = 60;
  r.ip_total_len = 1500;
  r.frag_offset = 1480;
  r.frag_flags = 0xf;
  r.icmp_type = 128;
  r.icmp_code = 255;
  r.parse_flags = 0xff;
  inet_pton(AF_INET6, "2001:db8:100::10", r.saddr);
  inet_pton(AF_INET6, "2001:db8:200::10", r.daddr);
  r.frag_id = 0xffffffffu;
  r.tcp_seq = 0x80000000u;
  r.tcp_ack = 0xffffffffu;
  r.block_rule_id = 1u << 28;
  r.verdict = SNIFFER_VERDICT_MONITORED;
  snippet.assign(512, 0);
  for (std::size_t i = 0; i < snippet.size(); ++i) snippet[i] = static_cast<std::uint8_t>(i);
  in.record.snippet = snippet;
  in.iface = &kWan;
  in.wall_ts_ns = 1764950400123456789ull;
  in.community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  return in;
}

TEST(EventWire, EveryFieldSetAndNoneSet) {
  std::vector<std::uint8_t> snippet;
  const EventInput all = all_fields_set(snippet);
  const EventInput none;  // a zeroed record: only the role (LAN) and the hook (XDP, ABI 0) are not defaults
  EventWireBatch wire("sensor-a", 1234, 1);
  expect_same_encodings(wire, {all}, "sensor-a", 1234, 1, "every field");
  expect_same_encodings(wire, {none}, "sensor-a", 1234, 1, "no field");
  expect_same_encodings(wire, {none, all, none, all}, "sensor-a", 1234, 1, "both, mixed");

  // That event is tag 4, length 4, then role = LAN and hook = XDP ingress.
  EventWireBatch bare("", 0, 0);
  bare.add(none.record, nullptr, 0, "");
  const SerialisedBatch out = bare.take();
  const std::vector<std::uint8_t> got(out.bytes.get() + PublishSocket::kSequenceRoom, out.bytes.get() + out.size);
  EXPECT_EQ(got, (std::vector<std::uint8_t>{0x22, 0x04, 0x28, v1::ROLE_LAN, 0x40, v1::HOOK_XDP_INGRESS}));

  // And what libprotobuf reads back is the record's, field by field.
  v1::EventBatch batch;
  EventWireBatch one("s", 1, 0);
  one.add(all.record, all.iface, all.wall_ts_ns, all.community_id);
  const SerialisedBatch bytes = one.take();
  ASSERT_TRUE(batch.ParseFromArray(bytes.bytes.get() + PublishSocket::kSequenceRoom,
                                   static_cast<int>(bytes.size - PublishSocket::kSequenceRoom)));
  ASSERT_EQ(batch.events_size(), 1);
  const v1::PacketEvent& e = batch.events(0);
  EXPECT_EQ(e.timestamp_ns(), all.wall_ts_ns);
  EXPECT_EQ(e.monotonic_ns(), all.record.header.ts_mono_ns);
  EXPECT_EQ(e.interface(), "wan0");
  EXPECT_EQ(e.hook(), v1::HOOK_TC_INGRESS);
  EXPECT_EQ(e.mode(), v1::MODE_HOST_BASED);
  EXPECT_EQ(e.role(), v1::ROLE_WAN);
  EXPECT_TRUE(e.is_wan_facing());
  EXPECT_EQ(e.src_addr(), std::string(reinterpret_cast<const char*>(all.record.header.saddr), 16));
  EXPECT_EQ(e.src_port(), 65535u);
  EXPECT_EQ(e.tcp_flags(), 0xffu);
  EXPECT_EQ(e.vlan_ids_size(), 2);
  EXPECT_EQ(e.vlan_ids(0), 4094u);
  EXPECT_EQ(e.vlan_ids(1), 1u);
  EXPECT_EQ(e.fragment_id(), 0xffffffffu);
  EXPECT_EQ(e.tcp_seq(), 0x80000000u);
  EXPECT_EQ(e.verdict(), v1::VERDICT_MONITORED);
  EXPECT_EQ(e.block_rule_id(), 1u << 28);
  EXPECT_EQ(e.payload(), std::string(snippet.begin(), snippet.end()));
  EXPECT_EQ(e.community_id(), all.community_id);
}

// Values at the varint boundaries, and others.
template <typename T>
T pick(std::mt19937_64& rng) {
  static constexpr std::array<std::uint64_t, 9> kEdges{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, ~0ull};
  const std::uint64_t v = rng() % 3 == 0 ? rng() : kEdges[rng() % kEdges.size()];
  return static_cast<T>(v);
}

// A record with random values in every field (IPv4, IPv6, not IP, and
// values the ABI does not define), a random snippet, interface and Community ID.
EventInput random_event(std::mt19937_64& rng, std::deque<std::vector<std::uint8_t>>& snippets) {
  EventInput in;
  sniffer_record& r = in.record.header;
  r.ts_mono_ns = pick<std::uint64_t>(rng);
  r.ifindex = pick<std::uint32_t>(rng);
  r.wire_len = pick<std::uint32_t>(rng);
  r.hook = static_cast<std::uint8_t>(rng() % 5);
  r.mode = static_cast<std::uint8_t>(rng() % 4);
  r.is_wan_facing = static_cast<std::uint8_t>(rng() % 3);
  static constexpr std::array<std::uint8_t, 4> kVersions{0, 4, 6, 5};
  r.ip_version = kVersions[rng() % kVersions.size()];
  r.l4_proto = pick<std::uint8_t>(rng);
  r.tcp_flags = pick<std::uint8_t>(rng);
  r.ttl = pick<std::uint8_t>(rng);
  r.vlan_count = static_cast<std::uint8_t>(rng() % 4);  // 3: more than the record holds
  r.ethertype = pick<std::uint16_t>(rng);
  r.vlan_ids[0] = static_cast<std::uint16_t>(rng() % 4096);
  r.vlan_ids[1] = rng() % 4 == 0 ? 0 : static_cast<std::uint16_t>(rng() % 4096);
  r.sport = pick<std::uint16_t>(rng);
  r.dport = pick<std::uint16_t>(rng);
  r.tcp_window = pick<std::uint16_t>(rng);
  r.l3_hdr_len = pick<std::uint16_t>(rng);
  r.l4_hdr_len = pick<std::uint16_t>(rng);
  r.ip_total_len = pick<std::uint16_t>(rng);
  r.frag_offset = pick<std::uint16_t>(rng);
  r.frag_flags = pick<std::uint8_t>(rng);
  r.icmp_type = pick<std::uint8_t>(rng);
  r.icmp_code = pick<std::uint8_t>(rng);
  r.parse_flags = pick<std::uint8_t>(rng);
  for (auto& b : r.saddr) b = static_cast<std::uint8_t>(rng());
  for (auto& b : r.daddr) b = static_cast<std::uint8_t>(rng());
  r.frag_id = pick<std::uint32_t>(rng);
  r.tcp_seq = pick<std::uint32_t>(rng);
  r.tcp_ack = pick<std::uint32_t>(rng);
  r.block_rule_id = pick<std::uint32_t>(rng);
  r.verdict = static_cast<std::uint8_t>(rng() % 4);
  // As most packets have them (the encoder tests these together): no fragment
  // offset, ICMP or parse flags; not TCP (no sequence numbers); no blocklist rule.
  if (rng() % 2 == 0) r.frag_offset = r.icmp_type = r.icmp_code = r.parse_flags = 0;
  if (rng() % 2 == 0) r.tcp_seq = r.tcp_ack = 0;
  if (rng() % 2 == 0) r.block_rule_id = r.verdict = 0;
  static constexpr std::array<std::size_t, 7> kSnippets{0, 0, 1, 64, 127, 128, SNIFFER_MAX_PAYLOAD_BYTES};
  std::vector<std::uint8_t>& snippet = snippets.emplace_back(kSnippets[rng() % kSnippets.size()]);
  for (auto& b : snippet) b = static_cast<std::uint8_t>(rng());
  in.record.snippet = snippet;
  static const std::array<const InterfaceInfo*, 4> kIfaces{nullptr, &kWan, &kLongName, &kEmptyName};
  in.iface = kIfaces[rng() % kIfaces.size()];
  in.wall_ts_ns = pick<std::uint64_t>(rng);
  in.community_id = rng() % 4 == 0 ? "" : "1:" + std::to_string(rng());
  return in;
}

TEST(EventWire, RandomRecordsInBatchesOfEverySize) {
  std::mt19937_64 rng(20261205);
  std::size_t events = 0;
  EventWireBatch wire("sensor-b", 1764950400000000000ull, 2);  // reused: buffers grow, then shrink for small batches
  for (int batch = 0; batch < 200; ++batch) {
    std::deque<std::vector<std::uint8_t>> snippets;
    std::vector<EventInput> in(batch % 50 == 0 ? 300 : 1 + rng() % 60);
    for (EventInput& e : in) e = random_event(rng, snippets);
    expect_same_encodings(wire, in, "sensor-b", 1764950400000000000ull, 2, "batch " + std::to_string(batch));
    if (HasFailure()) return;
    events += in.size();
  }
  EXPECT_GT(events, 5000u);
}

// Events whose length takes one byte, two bytes, and three (a Community ID
// longer than any real one: the encoder's bound passes 2^14 there), mixed.
TEST(EventWire, EventLengthsOfOneTwoAndThreeBytes) {
  std::vector<std::uint8_t> snippet;
  const EventInput all = all_fields_set(snippet);
  EventInput tiny, long_id = all, longer_id = all;
  tiny.record.header.ip_version = 4;
  long_id.community_id.assign(16000, 'x');
  longer_id.community_id.assign(20000, 'y');
  EventWireBatch wire("s", 1, 0);
  expect_same_encodings(wire, {tiny, long_id, all, longer_id, tiny, all}, "s", 1, 0, "mixed lengths");
  expect_same_encodings(wire, {longer_id}, "s", 1, 0, "a three-byte length alone");
}

// The timestamps as a clock gives them: each close to the one before, so
// their high bits' bytes are reused (wire::RepeatingU64), across the points
// where the bits from 28 up change, where the varint grows a byte, and with
// values too small to keep (below 2^28, 0) in between.
TEST(EventWire, ClockTimestampsAcrossTheKeptBitsAndVarintSizes) {
  std::mt19937_64 rng(20261206);
  std::vector<std::uint8_t> snippet;
  const EventInput all = all_fields_set(snippet);
  EventWireBatch wire("s", 1, 0);
  using U = std::uint64_t;
  const std::array<U, 7> starts{0, (U{1} << 28) - 5000, (U{1} << 35) - 70000, (U{1} << 42) - 100000,
                                U{1764950400123456789ull} - 300000, (U{1} << 63) - 200000, ~U{0} - 300000};
  for (const U start : starts) {
    std::vector<EventInput> in(300, all);
    std::uint64_t wall = start, mono = start / 3;
    for (std::size_t i = 0; i < in.size(); ++i) {
      wall += rng() % 2048;
      mono += rng() % 2048;
      in[i].wall_ts_ns = i % 50 == 7 ? 0 : i % 50 == 8 ? rng() % (1u << 28) : wall;
      in[i].record.header.ts_mono_ns = i % 60 == 9 ? 0 : mono;
    }
    expect_same_encodings(wire, in, "s", 1, 0, "from " + std::to_string(start));
    if (HasFailure()) return;
  }
}

// The interface fields are encoded once per interface entry: a table that
// changed (the same entry now another interface) is forgotten, and the next
// event carries the new name.
TEST(EventWire, AnInterfaceEntryChangedAfterForgetInterfaces) {
  std::vector<std::uint8_t> snippet;
  EventInput in = all_fields_set(snippet);
  InterfaceInfo iface{"wan0", 7, Role::Wan, Mode::Gateway};
  in.iface = &iface;
  EventWireBatch wire("s", 1, 0);
  expect_same_encodings(wire, {in, in}, "s", 1, 0, "wan0");
  iface.name = "enp3s0f1";
  wire.forget_interfaces();
  expect_same_encodings(wire, {in, in}, "s", 1, 0, "renamed");
}

TEST(EventWire, TheBatchsOwnFieldsWithAndWithoutDefaults) {
  std::vector<std::uint8_t> snippet;
  const EventInput all = all_fields_set(snippet);
  for (const auto& [sensor, start, worker] :
       std::vector<std::tuple<std::string, std::uint64_t, std::uint32_t>>{{"", 0, 0}, {"s", 1, 0}, {"x", 0, 200}}) {
    EventWireBatch wire(sensor, start, worker);
    expect_same_encodings(wire, {all}, sensor, start, worker, "sensor \"" + sensor + "\"");
    expect_same_encodings(wire, {}, sensor, start, worker, "no event");
  }
}

}  // namespace
}  // namespace sniffer::test
