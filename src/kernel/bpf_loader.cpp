#include "sniffer/bpf_loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "sniffer/bpffs.hpp"
#include "sniffer/btf_source.hpp"
#include "sniffer/capabilities.hpp"
#include "sniffer/error.hpp"
#include "sniffer_bpf.skel.h"

namespace sniffer {

namespace {

int libbpf_to_spdlog(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Sized to the message: a verifier log arrives as one message of many KiB.
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return n;
  std::string line(static_cast<std::size_t>(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize(static_cast<std::size_t>(n));
  while (!line.empty() && line.back() == '\n') line.pop_back();
  switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", line); break;
    case LIBBPF_INFO: spdlog::debug("libbpf: {}", line); break;
    default: spdlog::trace("libbpf: {}", line); break;
  }
  return n;
}

struct MapExpectation {
  bpf_map* map;
  const char* name;
  std::uint32_t key_size;
  std::uint32_t value_size;
};

std::uint32_t page_bytes() { return static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE)); }

// The user engine (no program loaded) copies the configuration maps and keeps
// its own counters, rings and per-CPU scratch: the kernel need not create
// those (the 4 MiB capture ring, the per-CPU arrays, event_rings, whose slot
// update waits for an RCU grace period).
void leave_out_unread_maps(sniffer_bpf& skel) {
  for (bpf_map* map : {skel.maps.event_rings, skel.maps.captures, skel.maps.stats, skel.maps.flow_out,
                       skel.maps.capture_counts, skel.maps.capture_buf, skel.maps.kernel_drops}) {
    if (int err = bpf_map__set_autocreate(map, false); err) {
      throw Error(std::string("leave out map ") + bpf_map__name(map) + ": " + errno_text(err));
    }
  }
}

// capture.workers > 1: a new secret steering key for this load (worker_shard.h).
// Blocks only until the kernel's random pool is first initialised.
WorkerKey draw_worker_key() {
  WorkerKey key{};
  auto* bytes = reinterpret_cast<std::uint8_t*>(key.data());
  for (std::size_t got = 0; got < sizeof key;) {
    const ssize_t n = getrandom(bytes + got, sizeof key - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error("draw the worker steering key (getrandom): " + errno_text(errno));
    got += static_cast<std::size_t>(n);
  }
  return key;
}

}  // namespace

void route_libbpf_logs() { libbpf_set_print(libbpf_to_spdlog); }

BpfPrograms::BpfPrograms(const LoadOptions& options) : options_(options) {
  const BtfSource btf(options);  // read by sniffer_bpf__load
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = btf.custom_path());

  skel_.reset(sniffer_bpf__open_opts(&open_opts));
  if (!skel_) throw Error("open the embedded BPF object: " + errno_text(errno));

  skel_->rodata->cfg_payload_bytes = options.payload_bytes;
  skel_->rodata->cfg_wakeup_bytes = options.wakeup_bytes;
  skel_->rodata->cfg_workers = options.workers;
  if (!options_.worker_key) options_.worker_key = options.workers > 1 ? draw_worker_key() : WorkerKey{};
  static_assert(sizeof skel_->rodata->cfg_worker_key == sizeof(WorkerKey));
  std::memcpy(const_cast<__u32*>(skel_->rodata->cfg_worker_key), options_.worker_key->data(), sizeof(WorkerKey));
  skel_->rodata->cfg_flow_kernel = options.flow_kernel ? 1 : 0;
  skel_->rodata->cfg_packet_sample = options.packet_sample;
  std::memcpy(const_cast<sniffer_flow_params*>(&skel_->rodata->cfg_flow_params), &options.flow_params,
              sizeof options.flow_params);
  // The flow map is preallocated (options.flow_max_entries * 768 bytes): one
  // entry when flows are aggregated in userspace, or when no program runs in
  // the kernel (the user engine keeps its own, of the configured size).
  const bool kernel_flows = options.flow_kernel && options.load_programs;
  int err = bpf_map__set_max_entries(skel_->maps.flows, kernel_flows ? options.flow_max_entries : 1);
  if (err) {
    throw Error("size the flow map to " + std::to_string(options.flow_max_entries) + " entries: " + errno_text(err));
  }
  // Without programs in the kernel the events ring only gives the worker's
  // reader an fd (the user engine hands it the records): one page.
  const std::uint32_t ring_bytes = options.load_programs ? options.ring_buffer_bytes : page_bytes();
  err = bpf_map__set_max_entries(skel_->maps.events, ring_bytes);
  if (err) throw Error("size the ring buffer to " + std::to_string(ring_bytes) + " bytes: " + errno_text(err));
  err = bpf_map__set_max_entries(skel_->maps.captures, options.capture_ring_bytes);
  if (err) {
    throw Error("size the capture ring to " + std::to_string(options.capture_ring_bytes) + " bytes: " + errno_text(err));
  }
  // The block tries have room for the sensor's exemptions beyond the rules
  // (Blocklist keeps the rules to blocklist.max_entries itself).
  for (bpf_map* trie : {skel_->maps.block_src_v4, skel_->maps.block_src_v6, skel_->maps.block_dst_v4,
                        skel_->maps.block_dst_v6, skel_->maps.allow_v4, skel_->maps.allow_v6}) {
    const bool block = trie != skel_->maps.allow_v4 && trie != skel_->maps.allow_v6;
    const std::uint32_t entries = options.blocklist_max_entries + (block ? kBlockExemptionRoom : 0);
    err = bpf_map__set_max_entries(trie, entries);
    if (err) throw Error("size the blocklist tries to " + std::to_string(entries) + " entries: " + errno_text(err));
  }
  set_drop_constants(options);
  if (!options.load_programs) {
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel_->obj) bpf_program__set_autoload(prog, false);
    leave_out_unread_maps(*skel_);
  }
  err = sniffer_bpf__load(skel_.get());
  if (err) {
    const std::string flow_map_note =
        err == -ENOMEM && options.flow_kernel
            ? " (flows.aggregation \"kernel\" preallocates flows.max_flows = " +
                  std::to_string(options.flow_max_entries) + " x " + std::to_string(sizeof(sniffer_flow_value)) +
                  " bytes of kernel memory: lower flows.max_flows)"
            : "";
    // EPERM without CAP_BPF or CAP_NET_ADMIN (XDP and TC are networking
    // program types), EACCES from the verifier without CAP_PERFMON.
    const std::string capability_note =
        err == -EPERM || err == -EACCES
            ? missing_capabilities_note({kCapBpf, kCapNetAdmin, kCapPerfmon},
                                        "loading the programs needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON")
            : "";
    throw Error("load the BPF programs into the kernel: " + errno_text(err) + capability_note + flow_map_note +
                "; run with -vv for the verifier log");
  }
  verify_maps();
  worker_rings_ = WorkerRings(bpf_map__fd(skel_->maps.event_rings), bpf_map__fd(skel_->maps.events), options.workers,
                              options.ring_buffer_bytes);
}

void BpfPrograms::set_drop_constants(const LoadOptions& options) {
  if (!options.drops) {
    bpf_program__set_autoload(skel_->progs.sniffer_kfree_skb, false);  // its CO-RE reads need the reasons
    return;
  }
  skel_->rodata->cfg_drops_netns = options.drops_netns;
  skel_->rodata->cfg_drops_records = options.drops_records ? 1 : 0;
  for (std::uint32_t reason : options.drops_ignored) {
    if (reason < SNIFFER_DROP_IGNORABLE_REASONS) skel_->rodata->cfg_drops_ignored[reason] = 1;
  }
}

void BpfPrograms::SkeletonDeleter::operator()(sniffer_bpf* skel) const { sniffer_bpf__destroy(skel); }

BpfPrograms::~BpfPrograms() {
  unpin_maps();  // a start that failed, or an exit without keep_pins: no pin outlives its maps' owner
}

void BpfPrograms::verify_maps() const {
  // Compare what the kernel created with the ABI header: a mismatch means
  // the object and this binary disagree, and nothing would be read right.
  const std::vector<MapExpectation> expected{
      {skel_->maps.iface_configs, SNIFFER_MAP_IFACE_CONFIGS, sizeof(__u32), sizeof(sniffer_iface_config)},
      {skel_->maps.filter_settings, SNIFFER_MAP_FILTER_SETTINGS, sizeof(__u32), sizeof(sniffer_filter_settings)},
      {skel_->maps.port_filters, SNIFFER_MAP_PORT_FILTERS, sizeof(__u16), sizeof(__u8)},
      {skel_->maps.events, SNIFFER_MAP_EVENTS, 0, 0},
      {skel_->maps.event_rings, SNIFFER_MAP_EVENT_RINGS, sizeof(__u32), sizeof(__u32)},
      {skel_->maps.stats, SNIFFER_MAP_STATS, sizeof(__u32), sizeof(__u64)},
      {skel_->maps.block_settings, SNIFFER_MAP_BLOCK_SETTINGS, sizeof(__u32), sizeof(sniffer_block_settings)},
      {skel_->maps.block_src_v4, SNIFFER_MAP_BLOCK_SRC_V4, sizeof(sniffer_lpm_v4), sizeof(sniffer_block_entry)},
      {skel_->maps.block_src_v6, SNIFFER_MAP_BLOCK_SRC_V6, sizeof(sniffer_lpm_v6), sizeof(sniffer_block_entry)},
      {skel_->maps.block_dst_v4, SNIFFER_MAP_BLOCK_DST_V4, sizeof(sniffer_lpm_v4), sizeof(sniffer_block_entry)},
      {skel_->maps.block_dst_v6, SNIFFER_MAP_BLOCK_DST_V6, sizeof(sniffer_lpm_v6), sizeof(sniffer_block_entry)},
      {skel_->maps.allow_v4, SNIFFER_MAP_ALLOW_V4, sizeof(sniffer_lpm_v4), sizeof(sniffer_allow_entry)},
      {skel_->maps.allow_v6, SNIFFER_MAP_ALLOW_V6, sizeof(sniffer_lpm_v6), sizeof(sniffer_allow_entry)},
      {skel_->maps.flows, SNIFFER_MAP_FLOWS, sizeof(sniffer_flow_key), sizeof(sniffer_flow_value)},
      {skel_->maps.local_addrs, SNIFFER_MAP_LOCAL_ADDRS, sizeof(sniffer_local_addr), sizeof(__u8)},
      {skel_->maps.kernel_drops, SNIFFER_MAP_KERNEL_DROPS, sizeof(sniffer_drop_key), sizeof(__u64)},
      {skel_->maps.capture_slots, SNIFFER_MAP_CAPTURE_SLOTS, sizeof(__u32), sizeof(sniffer_capture_filter)},
      {skel_->maps.capture_counts, SNIFFER_MAP_CAPTURE_COUNTS, sizeof(__u32), sizeof(sniffer_capture_counts)},
      {skel_->maps.captures, SNIFFER_MAP_CAPTURES, 0, 0},
  };
  for (const auto& m : expected) {
    if (!bpf_map__autocreate(m.map)) continue;  // left out (user engine)
    bpf_map_info info{};
    __u32 len = sizeof(info);
    int err = bpf_obj_get_info_by_fd(bpf_map__fd(m.map), &info, &len);
    if (err) throw Error(std::string("query map ") + m.name + ": " + errno_text(err));
    if (std::strcmp(info.name, m.name) != 0) {
      throw Error(std::string("map name mismatch: kernel has \"") + info.name + "\", ABI says \"" + m.name + "\"");
    }
    if (info.key_size != m.key_size || info.value_size != m.value_size) {
      throw Error(std::string("map ") + m.name + ": key/value size " + std::to_string(info.key_size) + "/" +
                  std::to_string(info.value_size) + " in the kernel, " + std::to_string(m.key_size) + "/" +
                  std::to_string(m.value_size) + " in the ABI header");
    }
  }
}

void BpfPrograms::pin_maps(const std::string& dir, const std::string& locked_path) {
  if (!bpffs_mounted()) {
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
      throw Error("pin_path " + dir + ": bpffs is not mounted at /sys/fs/bpf and mounting it failed: " +
                  errno_text(errno) + " (mount it, or set pin_path to \"\")");
    }
    spdlog::info("mounted bpffs at /sys/fs/bpf");
  }
  pin_dir_ = std::make_unique<PinDirectory>(dir, locked_path);  // from here on, the destructor unpins
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata: not part of the interface
    const std::string name = bpf_map__name(map);
    const std::string shown = pin_dir_->shown_path(name);
    // The caller holds the pin path's InstanceLock: no live sensor owns these.
    if (pin_dir_->remove_entry(name)) spdlog::info("replaced a stale pin {} (left by an earlier run)", shown);
    int err = bpf_map__pin(map, pin_dir_->entry_path(name).c_str());
    if (err) throw Error("pin map " + name + " at " + shown + ": " + errno_text(err));
  }
  const std::string netns = network_namespace_name();
  spdlog::info("maps pinned under {}{} ({}bpftool map dump pinned {}/stats)", dir,
               netns.empty() ? std::string() : " in network namespace " + netns, bpffs_shell_prefix(), dir);
}

void BpfPrograms::unpin_maps() {
  if (!pin_dir_) return;
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map) || !bpf_map__is_pinned(map)) continue;  // only what this run pinned
    bpf_map__unpin(map, nullptr);  // its path goes through pin_dir_'s descriptor, still open
  }
  pin_dir_->remove_if_empty();
  pin_dir_.reset();
}

int BpfPrograms::xdp_prog_fd() const { return bpf_program__fd(skel_->progs.sniffer_xdp); }
int BpfPrograms::tc_ingress_prog_fd() const { return bpf_program__fd(skel_->progs.sniffer_tc_in); }
int BpfPrograms::tc_egress_prog_fd() const { return bpf_program__fd(skel_->progs.sniffer_tc_eg); }
int BpfPrograms::block_settings_map_fd() const { return bpf_map__fd(skel_->maps.block_settings); }
int BpfPrograms::flows_map_fd() const { return bpf_map__fd(skel_->maps.flows); }
int BpfPrograms::capture_ring_fd() const { return bpf_map__fd(skel_->maps.captures); }
int BpfPrograms::capture_slots_map_fd() const { return bpf_map__fd(skel_->maps.capture_slots); }
int BpfPrograms::capture_counts_map_fd() const { return bpf_map__fd(skel_->maps.capture_counts); }
void BpfPrograms::set_capture_active(std::uint32_t slots) {
  __atomic_store_n(&skel_->bss->capture_active, slots, __ATOMIC_RELAXED);
}

void BpfPrograms::set_local_addresses(
    const std::vector<std::pair<std::uint8_t, std::array<std::uint8_t, 16>>>& addresses) {
  if (!options_.flow_kernel) return;  // only kernel flow aggregation reads them
  const int fd = bpf_map__fd(skel_->maps.local_addrs);
  // Clear, then fill: the set is small (the host's own addresses).
  sniffer_local_addr key{}, next{};
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0) bpf_map_delete_elem(fd, &next);
  std::size_t n = 0;
  for (const auto& [version, addr] : addresses) {
    key = {};
    key.ip_version = version;
    std::memcpy(key.addr, addr.data(), 16);
    const __u8 one = 1;
    if (bpf_map_update_elem(fd, &key, &one, BPF_ANY) == 0) ++n;
  }
  if (n < addresses.size()) {
    spdlog::warn("local_addrs: {} of the host's {} addresses did not fit ({} at most): TC-egress packets from the "
                 "others are left out of kernel flows",
                 addresses.size() - n, addresses.size(), SNIFFER_MAX_LOCAL_ADDRS);
  }
}

std::uint64_t BpfPrograms::flows_created() const {
  return __atomic_load_n(&skel_->bss->last_flow_id, __ATOMIC_RELAXED);
}

void BpfPrograms::set_first_flow_id(std::uint64_t first_flow_id) { skel_->bss->last_flow_id = first_flow_id - 1; }

void BpfPrograms::set_replay_packet(std::uint64_t ts_ns, std::uint32_t wire_len) {
  skel_->bss->replay_ts_ns = ts_ns;
  skel_->bss->replay_clock_ns = std::max<std::uint64_t>(skel_->bss->replay_clock_ns, ts_ns);
  skel_->bss->replay_wire_len = wire_len;
  skel_->bss->replay_active = 1;
}

int BpfPrograms::lpm_map_fd(LpmMap map) const {
  switch (map) {
    case LpmMap::BlockSrcV4: return bpf_map__fd(skel_->maps.block_src_v4);
    case LpmMap::BlockSrcV6: return bpf_map__fd(skel_->maps.block_src_v6);
    case LpmMap::BlockDstV4: return bpf_map__fd(skel_->maps.block_dst_v4);
    case LpmMap::BlockDstV6: return bpf_map__fd(skel_->maps.block_dst_v6);
    case LpmMap::AllowV4: return bpf_map__fd(skel_->maps.allow_v4);
    case LpmMap::AllowV6: return bpf_map__fd(skel_->maps.allow_v6);
  }
  return -1;
}

const bpf_object* BpfPrograms::object() const { return skel_->obj; }

int BpfPrograms::test_run_xdp(const void* frame, std::uint32_t size) const {
  LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = size);
  return bpf_prog_test_run_opts(xdp_prog_fd(), &run) == 0 ? 0 : -errno;
}

KernelCounters BpfPrograms::read_counters() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) throw Error("count possible CPUs: " + errno_text(ncpu));
  constexpr __u32 kEntries = SNIFFER_MAX_IFACES * SNIFFER_NUM_STATS;
  std::vector<__u32> keys(kEntries);
  std::vector<std::uint64_t> values(static_cast<std::size_t>(kEntries) * static_cast<std::size_t>(ncpu));
  __u32 count = kEntries, out_batch = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  int err = bpf_map_lookup_batch(bpf_map__fd(skel_->maps.stats), nullptr, &out_batch, keys.data(), values.data(),
                                 &count, &opts);
  if (err && errno != ENOENT) throw Error("read the stats map: " + errno_text(errno));
  KernelCounters out;
  for (__u32 i = 0; i < count; ++i) {
    KernelStats& slot = out.slots[keys[i] / SNIFFER_NUM_STATS];
    const int c = static_cast<int>(keys[i] % SNIFFER_NUM_STATS);
    for (int cpu = 0; cpu < ncpu; ++cpu) {
      std::uint64_t v = values[static_cast<std::size_t>(i) * static_cast<std::size_t>(ncpu) + static_cast<std::size_t>(cpu)];
      if (is_kernel_gauge(c)) slot[c] = std::max(slot[c], v);
      else slot[c] += v;
    }
  }
  return out;
}

}  // namespace sniffer
