#include "sniffer/user_engine.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>

#include "sniffer/counters.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

namespace {

// BPF_PROG_TEST_RUN runs a frame as arriving on lo (ifindex 1), with its
// first PAGE_SIZE - XDP_PACKET_HEADROOM (256) - aligned skb_shared_info (320)
// bytes linear, where the parser reads headers, and the rest in up to
// MAX_SKB_FRAGS (17) page fragments; a larger frame is refused (ENOMEM).
constexpr std::uint32_t kTestRunIfindex = 1;
constexpr std::uint32_t kTestRunLinearBytes = 4096 - 256 - 320;
constexpr std::uint32_t kTestRunMaxBytes = kTestRunLinearBytes + 17 * 4096;

std::atomic<bool> engine_exists{false};

std::unique_ptr<sniffer_user_map> make_store(const sniffer_user_map_slot& slot, const bpf_map* kernel_map,
                                              const LoadOptions& options) {
  // The loader resized some maps. The flow map and the rings are sized here:
  // with the programs not loaded the kernel's flow map has one entry and its
  // events ring one page, and it creates no capture ring (nothing there uses them).
  std::uint32_t max_entries = bpf_map__max_entries(kernel_map);
  if (std::strcmp(slot.name, SNIFFER_MAP_FLOWS) == 0) max_entries = options.flow_kernel ? options.flow_max_entries : 1;
  if (std::strcmp(slot.name, SNIFFER_MAP_EVENTS) == 0) max_entries = options.ring_buffer_bytes;
  if (std::strcmp(slot.name, SNIFFER_MAP_CAPTURES) == 0) max_entries = options.capture_ring_bytes;
  // A key the store cannot hold: the map named, not "no store".
  const auto check_key = [&](std::uint32_t max_bytes) {
    if (slot.key_size == 0 || slot.key_size > max_bytes) {
      throw Error(std::string("user engine: map ") + slot.name + ": a key of " + std::to_string(slot.key_size) +
                  " bytes (1 to " + std::to_string(max_bytes) + " in userspace)");
    }
  };
  switch (slot.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:  // one thread runs the programs: one CPU's values
      return std::make_unique<UserArrayMap>(slot.value_size, max_entries);
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:  // kernel_drops: written by a tracepoint the engine does not run
      check_key(UserHashMap::kMaxKeyBytes);
      return std::make_unique<UserHashMap>(slot.key_size, slot.value_size, max_entries);
    case BPF_MAP_TYPE_LPM_TRIE:
      check_key(UserLpmTrie::kMaxKeyBytes);
      return std::make_unique<UserLpmTrie>(slot.key_size, slot.value_size, max_entries);
    case BPF_MAP_TYPE_RINGBUF: return std::make_unique<UserRingBuffer>(max_entries);
    default: break;
  }
  throw Error(std::string("user engine: map ") + slot.name + ": type " + std::to_string(slot.type) +
              " has no userspace store");
}

// Copies a kernel map's entries into its store: the configuration the
// loader wrote (per-CPU maps and the ring start empty in both engines).
void copy_entries(const sniffer_user_map_slot& slot, const bpf_map* kernel_map, sniffer_user_map& store) {
  if (slot.type == BPF_MAP_TYPE_PERCPU_ARRAY || slot.type == BPF_MAP_TYPE_PERCPU_HASH ||
      slot.type == BPF_MAP_TYPE_RINGBUF) {
    return;
  }
  const int fd = bpf_map__fd(kernel_map);
  std::vector<std::uint8_t> key(slot.key_size), next(slot.key_size), value(slot.value_size);
  void* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, next.data()) == 0) {
    key = next;
    previous = key.data();
    if (bpf_map_lookup_elem(fd, key.data(), value.data()) != 0) continue;  // deleted meanwhile
    if (long err = store.update(key.data(), value.data(), BPF_ANY); err != 0) {
      throw Error(std::string("user engine: copy map ") + slot.name + ": " + errno_text(static_cast<int>(-err)));
    }
  }
}

}  // namespace

UserEngine::UserEngine(const BpfPrograms& programs, UserRingBuffer::Sink sink, std::uint64_t first_flow_id) {
  const LoadOptions& options = programs.options();
  if (engine_exists.exchange(true)) throw Error("user engine: one at a time (the programs' globals are shared)");
  try {
    __u32 count = 0;
    const sniffer_user_map_slot* slots = sniffer_user_maps(&count);
    for (const sniffer_user_map_slot& slot : std::span(slots, count)) {
      const bpf_map* kernel_map = bpf_object__find_map_by_name(programs.object(), slot.name);
      if (!kernel_map) throw Error(std::string("user engine: the programs have no map ") + slot.name);
      if (slot.key_size != bpf_map__key_size(kernel_map) || slot.value_size != bpf_map__value_size(kernel_map)) {
        throw Error(std::string("user engine: map ") + slot.name + ": key or value size differs from the kernel's");
      }
      std::unique_ptr<sniffer_user_map> store = make_store(slot, kernel_map, options);
      copy_entries(slot, kernel_map, *store);
      if (slot.type == BPF_MAP_TYPE_RINGBUF) static_cast<UserRingBuffer&>(*store).set_sink(sink);
      if (std::strcmp(slot.name, SNIFFER_MAP_EVENTS) == 0) events_ = static_cast<UserRingBuffer*>(store.get());
      if (std::strcmp(slot.name, "stats") == 0) stats_ = static_cast<const UserArrayMap*>(store.get());
      if (std::strcmp(slot.name, "flows") == 0) flows_.emplace(static_cast<UserHashMap&>(*store));
      *slot.store = store.get();
      *slot.array = store->array.values ? &store->array : nullptr;
      stores_.push_back(std::move(store));
    }
    if (!stats_ || !flows_ || !events_) throw Error("user engine: the programs have no stats, flows or events map");
    set_record_area(nullptr);
    // Every map of the programs needs its store: one added to bpf/ without one here fails at start.
    const bpf_map* map = nullptr;
    bpf_object__for_each_map(map, programs.object()) {
      const std::string name = bpf_map__name(map);
      if (name.find('.') != std::string::npos) continue;  // .rodata, .bss: the globals, set below
      if (name == SNIFFER_MAP_EVENT_RINGS) continue;  // the workers' rings: the user engine runs one, on "events"
      bool known = false;
      for (const sniffer_user_map_slot& slot : std::span(slots, count)) known = known || name == slot.name;
      if (!known) throw Error("user engine: the programs' map " + name + " has no userspace store");
    }
    sniffer_user_start(first_flow_id);
    cache_interfaces();
    sniffer_user_set_constants(options.payload_bytes, options.wakeup_bytes, options.flow_kernel ? 1 : 0,
                               options.packet_sample, &options.flow_params);
  } catch (...) {
    release_slots();  // the stores go with this half-built engine
    engine_exists = false;
    throw;
  }
}

void UserEngine::release_slots() {
  __u32 count = 0;
  const sniffer_user_map_slot* slots = sniffer_user_maps(&count);
  for (const sniffer_user_map_slot& slot : std::span(slots, count)) {
    *slot.store = nullptr;
    *slot.array = nullptr;
  }
  sniffer_user_record = nullptr;
}

// The programs read an interface's config from their iface_cache when it
// holds it, as the daemon's do: one load a frame instead of a hash lookup.
// Filled once: the engine's iface_configs is the loader's copy, never changed.
void UserEngine::cache_interfaces() {
  __u32 count = 0;
  const sniffer_user_map_slot* slots = sniffer_user_maps(&count);
  for (const sniffer_user_map_slot& slot : std::span(slots, count)) {
    if (std::strcmp(slot.name, "iface_configs") != 0) continue;
    const auto* configs = dynamic_cast<const UserHashMap*>(*slot.store);
    if (!configs) throw Error("user engine: map iface_configs is not a hash map");
    configs->for_each([](const void*, const void* value) {
      sniffer_iface_config cfg;
      std::memcpy(&cfg, value, sizeof cfg);
      sniffer_user_cache_interface(&cfg);
    });
  }
}

void UserEngine::set_record_area(void* at) {
  sniffer_user_record = static_cast<sniffer_record*>(events_->record_area(kRecordAreaBytes, at));
}

UserEngine::~UserEngine() {
  release_slots();
  engine_exists = false;
}

int UserEngine::run(const std::uint8_t* data, std::uint32_t caplen, std::uint64_t ts_ns, std::uint32_t wire_len,
                    std::uint64_t mono_now_ns) {
  if (caplen > kTestRunMaxBytes) return -ENOMEM;
  sniffer_user_set_replay_packet(ts_ns, wire_len, mono_now_ns);
  const sniffer_user_frame frame{data, caplen};
  sniffer_user_observe_xdp(&frame, std::min(caplen, kTestRunLinearBytes), kTestRunIfindex);
  return 0;
}

std::uint64_t UserEngine::flows_created() const { return sniffer_user_last_flow_id(); }

KernelCounters UserEngine::read_counters() const {
  KernelCounters out;
  for (std::uint32_t i = 0; i < stats_->size(); ++i) {
    std::uint64_t value;
    std::memcpy(&value, stats_->at(i), sizeof value);
    out.slots[i / SNIFFER_NUM_STATS][static_cast<int>(i % SNIFFER_NUM_STATS)] = value;
  }
  return out;
}

}  // namespace sniffer
