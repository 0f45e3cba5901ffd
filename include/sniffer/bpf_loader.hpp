// Owns the embedded BPF skeleton: open (set constants, size the ring), load,
// verify the maps against the ABI, fill the maps, read the counters.
// Loading is separate from attaching, so tests can run the loaded programs
// through BPF_PROG_TEST_RUN without touching an interface.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sniffer/abi.h"
#include "sniffer/config.hpp"
#include "sniffer/worker_rings.hpp"
#include "sniffer/worker_shard.h"  // WorkerKey
#include "sniffer/counters.hpp"  // KernelStats
#include "sniffer/pin_directory.hpp"

struct sniffer_bpf;  // generated skeleton (bpf/sniffer_bpf.skel.h)
struct bpf_object;   // libbpf

namespace sniffer {

// Entries each block trie holds beyond blocklist.max_entries, for the
// exemptions of the sensor's own addresses (Blocklist::sync_exemptions): a
// link peer's router advertisements must not take the rules' room.
inline constexpr std::uint32_t kBlockExemptionRoom = 64;

// Built from the config by load_options(config) (load_options.hpp). The sizes
// default to the config's defaults (config.hpp); the rest to zero / off (for tests).
struct LoadOptions {
  std::uint32_t ring_buffer_bytes = CaptureConfig{}.ring_buffer_bytes;
  std::uint32_t capture_ring_bytes = CaptureConfig{}.full_packet_ring_bytes;  // the "captures" ring
  std::uint32_t payload_bytes = 0;
  std::uint32_t wakeup_bytes = 0;
  std::uint32_t workers = 1;  // capture.workers, resolved: one "events" ring each
  // The key that steers flows to workers (worker_shard.h); none: drawn
  // (getrandom) at load when workers > 1, else 0 (no hash runs).
  std::optional<WorkerKey> worker_key;
  std::string btf_path;  // empty: the running kernel's
  std::uint32_t blocklist_max_entries = BlocklistConfig{}.max_entries;  // rules per LPM trie (block_*, allow_*)
  // Kernel flow aggregation (flows.aggregation "kernel"): the flow map's size,
  // the flow parameters, and 1 in packet_sample packets still yielding a
  // packet record (0: none).
  bool flow_kernel = false;
  std::uint32_t flow_max_entries = FlowConfig{}.max_flows;
  std::uint32_t packet_sample = 0;
  sniffer_flow_params flow_params{};
  // false: create the maps only, no program (no verifier run): the user
  // engine runs the programs' C source itself and needs only their maps.
  bool load_programs = true;
  // Kernel drop reasons (kernel_drops.hpp): load the skb:kfree_skb program,
  // for the interfaces of the network namespace of inode drops_netns, with
  // the reasons of drops_ignored (enum values) counted as ignored.
  bool drops = false;
  bool drops_records = false;  // a drop record per dropped IP packet, for the flows
  std::uint32_t drops_netns = 0;
  std::vector<std::uint32_t> drops_ignored;
};

// The blocklist's tries, by family and match (see abi.h).
enum class LpmMap { BlockSrcV4, BlockSrcV6, BlockDstV4, BlockDstV6, AllowV4, AllowV6 };

// Every block of the stats map: slot 0 (no configured interface) and one per
// interface, summed over CPUs (the ring-fill gauge: the largest CPU value).
struct KernelCounters {
  std::array<KernelStats, SNIFFER_MAX_IFACES> slots{};
  KernelStats total() const;
};

class BpfPrograms {
 public:
  // Opens and loads the programs (verifier included). Throws Error.
  explicit BpfPrograms(const LoadOptions& options);
  ~BpfPrograms();
  BpfPrograms(const BpfPrograms&) = delete;
  BpfPrograms& operator=(const BpfPrograms&) = delete;

  int xdp_prog_fd() const;
  int tc_ingress_prog_fd() const;
  int tc_egress_prog_fd() const;
  // Worker `worker`'s ring (0: "events"; capture.workers).
  int events_map_fd(std::uint32_t worker = 0) const { return worker_rings_.fd(worker); }
  int lpm_map_fd(LpmMap map) const;
  int block_settings_map_fd() const;
  int flows_map_fd() const;
  // Full-packet capture (abi.h): the ring, the filters, the per-capture
  // counters; set_capture_active: bit i while capture slot i runs.
  int capture_ring_fd() const;
  int capture_slots_map_fd() const;
  int capture_counts_map_fd() const;
  void set_capture_active(std::uint32_t slots);
  bool flow_kernel() const { return options_.flow_kernel; }
  std::uint32_t flow_max_entries() const { return options_.flow_max_entries; }
  std::uint32_t blocklist_max_entries() const { return options_.blocklist_max_entries; }
  std::uint32_t payload_bytes() const { return options_.payload_bytes; }
  // The key the loaded programs steer flows with: the kernel flow sweep's
  // shards must use it (ShardFlowMap).
  const WorkerKey& worker_key() const { return *options_.worker_key; }
  const LoadOptions& options() const { return options_; }
  // The loaded object: its maps, by name (the user engine copies them).
  const bpf_object* object() const;

  // stats_slot: 1..SNIFFER_MAX_IFACES-1, this interface's block of counters.
  // blocklist: check ingress packets against the blocklist.
  void set_interface(std::uint32_t ifindex, Mode mode, Role role, std::uint8_t stats_slot, bool blocklist = false);
  void remove_interface(std::uint32_t ifindex);
  // Replaces the filter: default action and the port rules, and the ports
  // whose packets always yield a record under kernel flow aggregation.
  void set_filter(const FilterConfig& filter, const std::vector<std::uint16_t>& record_ports = {});

  // Replaces the host addresses the programs know (local_addrs): at TC
  // egress, kernel flow aggregation counts only packets sent from them.
  // Nothing to do when flows are aggregated in userspace.
  void set_local_addresses(const std::vector<std::pair<std::uint8_t, std::array<std::uint8_t, 16>>>& addresses);

  // Offline replay: the capture time and original length of the next packet
  // run (kernel flow aggregation uses them instead of the kernel's clock).
  void set_replay_packet(std::uint64_t ts_ns, std::uint32_t wire_len);
  // Kernel flow aggregation: the last flow id handed out (the flows started,
  // when ids start at 1).
  std::uint64_t flows_created() const;
  // Kernel flow aggregation numbers flows from first_flow_id (offline, before the first packet).
  void set_first_flow_id(std::uint64_t first_flow_id);

  // Runs the XDP program once on `frame` (BPF_PROG_TEST_RUN, arriving on the
  // loopback device). Returns 0 or a negative errno.
  int test_run_xdp(const void* frame, std::uint32_t size) const;

  // All counters, in one batched map read.
  KernelCounters read_counters() const;
  // The totals over every interface.
  KernelStats read_stats() const { return read_counters().total(); }

  // Pins every map under `dir` (bpffs; mounted at /sys/fs/bpf if it is not),
  // replacing pins a previous run left there: call it only while holding the
  // pin path's InstanceLock, whose locked_path() is `locked_path` ("": none),
  // and the directory must still be that one (see PinDirectory). Throws Error; the pins made so far are removed
  // by unpin_maps() or the destructor.
  void pin_maps(const std::string& dir, const std::string& locked_path);
  // Removes the pins made by pin_maps, and the directory if empty.
  void unpin_maps();
  // keep_pins: the pins outlive this object (for inspection after exit).
  void keep_pins() { pin_dir_.reset(); }


 private:
  void set_drop_constants(const LoadOptions& options);
  void verify_maps() const;
  std::unique_ptr<PinDirectory> pin_dir_;  // set while pins exist

  // Destroys the skeleton (programs, maps, links it owns) on every path out,
  // a constructor that throws part way included.
  struct SkeletonDeleter {
    void operator()(sniffer_bpf* skel) const;
  };
  std::unique_ptr<sniffer_bpf, SkeletonDeleter> skel_;
  LoadOptions options_;
  WorkerRings worker_rings_;
};

// libbpf's own messages go through spdlog (debug/info/warn).
void route_libbpf_logs();

}  // namespace sniffer
