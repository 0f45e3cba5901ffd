// The user engine's map stores: the kernel's semantics for what the programs
// do with their maps (bpf/userspace/bpf/bpf_helpers.h routes the helpers here).
#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sniffer/user_maps.hpp"
#include "user_lookup_probe.h"

namespace sniffer {
namespace {

std::uint32_t u32(const void* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

TEST(UserMaps, ArrayHasEveryIndexBelowItsSizeAndNoOther) {
  UserArrayMap array(4, 3);
  const std::uint32_t two = 2, three = 3, value = 77;
  ASSERT_NE(array.lookup(&two), nullptr);
  EXPECT_EQ(u32(array.lookup(&two)), 0u);  // zeroed, as a kernel array
  EXPECT_EQ(array.lookup(&three), nullptr);
  EXPECT_EQ(array.update(&two, &value, BPF_ANY), 0);
  EXPECT_EQ(u32(array.at(2)), 77u);
  EXPECT_EQ(array.update(&two, &value, BPF_NOEXIST), -EEXIST);
  EXPECT_EQ(array.update(&three, &value, BPF_ANY), -E2BIG);
}

// The programs' lookup helper reads an array directly, a hash map through its store.
TEST(UserMaps, TheLookupHelperFindsWhatTheStoresFind) {
  UserArrayMap array(12, 3);  // a stride of 16
  UserHashMap hash(4, 4, 4);
  struct {
    sniffer_user_map* user_map;
  } array_def{&array}, hash_def{&hash};
  const std::uint32_t value = 5;
  for (std::uint32_t key = 0; key < 5; ++key) {
    EXPECT_EQ(sniffer_user_map_lookup(&array_def, &key), array.lookup(&key)) << key;
    ASSERT_EQ(hash.update(&key, &value, BPF_ANY), key < 4 ? 0 : -E2BIG);
    EXPECT_EQ(sniffer_user_map_lookup(&hash_def, &key), hash.lookup(&key)) << key;
  }
  const std::uint32_t two = 2;
  EXPECT_EQ(static_cast<std::uint8_t*>(sniffer_user_map_lookup(&array_def, &two)),
            static_cast<const std::uint8_t*>(array.at(0)) + 32);
}

// The programs' own lookup (bpf_helpers.h): an array given its values is
// indexed inline, every index below its size and none past it; without them,
// and for a key that is not a __u32, the store answers.
TEST(UserMaps, TheProgramsLookupIndexesAnArrayInlineAndAsksAnyOtherStore) {
  UserArrayMap array(12, 3);
  UserHashMap hash(4, 8, 8);
  for (std::uint32_t key = 0; key < 5; ++key) {
    EXPECT_EQ(user_lookup_probe32(&array, &array.array, key), array.lookup(&key)) << key;
    EXPECT_EQ(user_lookup_probe32(&array, nullptr, key), array.lookup(&key)) << key;
  }
  EXPECT_EQ(user_lookup_probe32(&array, &array.array, 3), nullptr);
  const std::uint32_t one = 1;
  const std::uint64_t value = 9;
  ASSERT_EQ(hash.update(&one, &value, BPF_ANY), 0);
  EXPECT_EQ(user_lookup_probe32(&hash, nullptr, 1), hash.lookup(&one));
  EXPECT_EQ(user_lookup_probe32(&hash, nullptr, 2), nullptr);
  UserHashMap ports(2, 8, 8);
  const std::uint16_t port = 443;
  ASSERT_EQ(ports.update(&port, &value, BPF_ANY), 0);
  // A __u16 key never takes the array path, even with a view at hand.
  EXPECT_EQ(user_lookup_probe16(&ports, &array.array, 443), ports.lookup(&port));
}

TEST(UserMaps, HashKeepsItsFlagsAndItsSize) {
  UserHashMap hash(2, 4, 2);
  const std::uint16_t a = 80, b = 443, c = 22;
  const std::uint32_t one = 1, two = 2;
  EXPECT_EQ(hash.lookup(&a), nullptr);
  EXPECT_EQ(hash.update(&a, &one, BPF_EXIST), -ENOENT);
  EXPECT_EQ(hash.update(&a, &one, BPF_NOEXIST), 0);
  void* stored = hash.lookup(&a);
  EXPECT_EQ(hash.update(&a, &two, BPF_NOEXIST), -EEXIST);
  EXPECT_EQ(hash.update(&a, &two, BPF_ANY), 0);
  EXPECT_EQ(hash.lookup(&a), stored);  // a value never moves: the programs keep pointers into it
  EXPECT_EQ(u32(stored), 2u);
  EXPECT_EQ(hash.update(&b, &one, BPF_ANY), 0);
  EXPECT_EQ(hash.update(&c, &one, BPF_ANY), -E2BIG);
}

TEST(UserMaps, HashTakeRemovesAndForEachVisitsEveryEntryOnce) {
  UserHashMap hash(2, 4, 4);
  const std::uint16_t a = 80, b = 443;
  const std::uint32_t one = 1, two = 2;
  ASSERT_EQ(hash.update(&a, &one, BPF_ANY), 0);
  ASSERT_EQ(hash.update(&b, &two, BPF_ANY), 0);
  std::vector<std::pair<std::uint16_t, std::uint32_t>> seen;
  hash.for_each([&](const void* key, const void* value) {
    std::uint16_t k;
    std::memcpy(&k, key, sizeof k);
    seen.emplace_back(k, u32(value));
  });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::pair<std::uint16_t, std::uint32_t>>{{80, 1}, {443, 2}}));
  std::uint32_t out = 0;
  EXPECT_EQ(hash.take(&b, &out), 0);
  EXPECT_EQ(out, 2u);
  EXPECT_EQ(hash.lookup(&b), nullptr);
  EXPECT_EQ(hash.take(&b, &out), -ENOENT);
  EXPECT_EQ(hash.update(&b, &one, BPF_NOEXIST), 0);  // its room is free again
}

// Random updates, lookups and takes on a small key space (many collisions of
// the home slot, growth, backward-shift removal) against std::map, for keys of
// KeyBytes bytes (the sizes the store unrolls, and one it does not; the
// padding to 8 bytes must not count).
template <std::size_t KeyBytes>
void agrees_with_an_ordered_map() {
  struct Key {
    std::uint8_t bytes[KeyBytes];
    bool operator<(const Key& o) const { return std::memcmp(bytes, o.bytes, sizeof bytes) < 0; }
  };
  UserHashMap hash(sizeof(Key), 4, 300);
  std::map<Key, std::uint32_t> reference;
  std::map<Key, const void*> address;  // a value stays where it was created
  std::mt19937 random(14);
  for (int step = 0; step < 200000; ++step) {
    Key key{};
    key.bytes[0] = static_cast<std::uint8_t>(random() % 23);
    key.bytes[KeyBytes - 1] = static_cast<std::uint8_t>(random() % 19);  // 437 keys: the map fills
    const std::uint32_t value = static_cast<std::uint32_t>(random());
    const auto it = reference.find(key);
    switch (random() % 4) {
      case 0: {
        void* found = hash.lookup(&key);
        ASSERT_EQ(found != nullptr, it != reference.end());
        if (found) {
          EXPECT_EQ(u32(found), it->second);
          EXPECT_EQ(found, address[key]);
        }
        break;
      }
      case 1: {
        std::uint32_t out = 0;
        ASSERT_EQ(hash.take(&key, &out), it == reference.end() ? -ENOENT : 0);
        if (it != reference.end()) {
          EXPECT_EQ(out, it->second);
          reference.erase(it);
        }
        break;
      }
      default: {
        const std::uint64_t flags = random() % 3;  // BPF_ANY, BPF_NOEXIST, BPF_EXIST
        long want = 0;
        if (it != reference.end() && flags == BPF_NOEXIST) want = -EEXIST;
        else if (it == reference.end() && flags == BPF_EXIST) want = -ENOENT;
        else if (it == reference.end() && reference.size() >= 300) want = -E2BIG;
        ASSERT_EQ(hash.update(&key, &value, flags), want);
        if (want == 0) {
          reference[key] = value;
          address[key] = hash.lookup(&key);
        }
      }
    }
    ASSERT_EQ(hash.size(), reference.size());
  }
  std::size_t visited = 0;
  hash.for_each([&](const void* key, const void* value) {
    Key k;
    std::memcpy(&k, key, sizeof k);
    ASSERT_EQ(reference.count(k), 1u);
    EXPECT_EQ(u32(value), reference[k]);
    ++visited;
  });
  EXPECT_EQ(visited, reference.size());
}

TEST(UserMaps, HashAgreesWithAnOrderedMapUnderRandomUpdatesAndTakes) {
  agrees_with_an_ordered_map<2>();
  agrees_with_an_ordered_map<4>();
  agrees_with_an_ordered_map<13>();
  agrees_with_an_ordered_map<20>();
  agrees_with_an_ordered_map<40>();
}

struct LpmV4 {
  std::uint32_t prefixlen;
  std::uint8_t addr[4];
};

TEST(UserMaps, LpmTrieFindsTheLongestPrefixThatCoversTheAddress) {
  UserLpmTrie trie(sizeof(LpmV4), 4, 8);
  const std::uint32_t wide = 8, narrow = 24;
  const LpmV4 ten{8, {10, 9, 9, 9}};         // stored as 10.0.0.0/8: bits past the prefix do not count
  const LpmV4 ten_one_two{24, {10, 1, 2, 0}};
  ASSERT_EQ(trie.update(&ten, &wide, BPF_ANY), 0);
  ASSERT_EQ(trie.update(&ten_one_two, &narrow, BPF_ANY), 0);
  const LpmV4 in_narrow{32, {10, 1, 2, 3}}, in_wide{32, {10, 1, 3, 3}}, outside{32, {11, 1, 2, 3}};
  ASSERT_NE(trie.lookup(&in_narrow), nullptr);
  EXPECT_EQ(u32(trie.lookup(&in_narrow)), 24u);
  EXPECT_EQ(u32(trie.lookup(&in_wide)), 8u);
  EXPECT_EQ(trie.lookup(&outside), nullptr);
  const LpmV4 too_long{33, {10, 1, 2, 3}};
  EXPECT_EQ(trie.update(&too_long, &wide, BPF_ANY), -EINVAL);
}

TEST(UserMaps, RingBufferHandsEachSubmittedRecordToItsSinkAndCountsWhatIsQueued) {
  UserRingBuffer ring(64);
  std::vector<std::vector<std::uint8_t>> seen;
  ring.set_sink([&](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    seen.emplace_back(bytes, bytes + size);
  });
  auto* first = static_cast<std::uint8_t*>(ring.reserve(20));
  ASSERT_NE(first, nullptr);
  std::memset(first, 0xab, 20);
  EXPECT_EQ(ring.queued(), 32u);  // 20 bytes + the 8-byte header, rounded up to 8
  EXPECT_EQ(ring.reserve(40), nullptr);  // 48 more do not fit in 64: as a full ring
  UserRingBuffer::submit(first);
  EXPECT_EQ(ring.queued(), 0u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::vector<std::uint8_t>(20, 0xab));
  const std::uint8_t record[3] = {1, 2, 3};
  EXPECT_EQ(ring.output(record, sizeof record), 0);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], std::vector<std::uint8_t>({1, 2, 3}));
}

// The record area (the user engine's packet records, built in place): a
// reservation there is counted as any, refused when the ring is full, handed
// to the sink from where it was written, and stays the area's (a reservation
// after it gets other memory); the area may be the reader's memory.
TEST(UserMaps, RingBufferRecordAreaIsReservedInPlace) {
  UserRingBuffer ring(64);
  std::vector<std::pair<const void*, std::vector<std::uint8_t>>> seen;
  ring.set_sink([&](const void* data, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    seen.emplace_back(data, std::vector<std::uint8_t>(bytes, bytes + size));
  });
  auto* area = static_cast<std::uint8_t*>(ring.record_area(40));
  ASSERT_NE(area, nullptr);
  std::memset(area, 0x5c, 40);
  auto* other = ring.reserve(20);  // 32 of 64 queued
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(ring.reserve_at(area, 40), nullptr);  // 48 more do not fit: as a full ring
  UserRingBuffer::submit(other);
  ASSERT_EQ(ring.reserve_at(area, 24), area);
  EXPECT_EQ(ring.queued(), 32u);
  UserRingBuffer::submit(area);
  EXPECT_EQ(ring.queued(), 0u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].first, area);
  EXPECT_EQ(seen[1].second, std::vector<std::uint8_t>(24, 0x5c));
  void* next = ring.reserve(24);
  EXPECT_NE(next, area);
  UserRingBuffer::submit(next);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].first, next);
  // The reader's memory as the area: records handed on from there.
  alignas(8) std::uint8_t reader[40] = {7, 7, 7};
  ASSERT_EQ(ring.record_area(sizeof reader, reader), reader);
  ASSERT_EQ(ring.reserve_at(reader, 3), reader);
  UserRingBuffer::submit(reader);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].first, reader);
  EXPECT_EQ(seen[3].second, std::vector<std::uint8_t>(3, 7));
  EXPECT_EQ(ring.queued(), 0u);
}

// The programs' iface_cache in the user engine (abi.h): an entry put there
// is found for its ifindex only, a later one of the same slot replaces it,
// and a new engine's start empties it (one process may run several).
TEST(UserPrograms, InterfaceCacheHoldsWhatWasPutAndAStartEmptiesIt) {
  sniffer_user_start(1);
  const sniffer_iface_config lo{.ifindex = 1, .mode = 1, .is_wan_facing = 1, .stats_slot = 1, .blocklist = 0};
  const sniffer_iface_config other{.ifindex = 1 + SNIFFER_IFACE_CACHE_SLOTS, .mode = 0, .is_wan_facing = 0,
                                   .stats_slot = 2, .blocklist = 1};  // lo's slot
  sniffer_iface_config got{};
  EXPECT_EQ(sniffer_user_cached_interface(1, &got), 0);
  EXPECT_EQ(sniffer_user_cached_interface(0, &got), 0);  // ifindex 0 never matches an empty slot
  sniffer_user_cache_interface(&lo);
  ASSERT_EQ(sniffer_user_cached_interface(1, &got), 1);
  EXPECT_EQ(std::memcmp(&got, &lo, sizeof got), 0);
  EXPECT_EQ(sniffer_user_cached_interface(other.ifindex, &got), 0);
  sniffer_user_cache_interface(&other);
  EXPECT_EQ(sniffer_user_cached_interface(1, &got), 0);
  ASSERT_EQ(sniffer_user_cached_interface(other.ifindex, &got), 1);
  EXPECT_EQ(got.stats_slot, 2);
  sniffer_user_start(1);
  EXPECT_EQ(sniffer_user_cached_interface(other.ifindex, &got), 0);
}

}  // namespace
}  // namespace sniffer
