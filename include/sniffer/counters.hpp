// The counters every stage reports, as plain data: the kernel's named counters
// (the SNIFFER_STATS list of abi.h, as a table) and the typed counters of the
// userspace stages. Header only, no dependency beyond the standard library and
// abi.h, so that every folder may fill them and report/ renders them
// (report.hpp: the JSON report; metrics.hpp: Prometheus text, summary line).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sniffer/abi.h"

namespace sniffer {

// One block of kernel counters (indices SNIFFER_STAT_*).
using KernelStats = std::array<std::uint64_t, SNIFFER_NUM_STATS>;

// Counts by a name that is a label value (a reason, a status, a domain).
using NamedCounts = std::map<std::string, std::uint64_t>;

enum class MetricKind { Counter, Gauge, Summary };

// The hooks and protocol classes of the packets/bytes counters, by index.
inline constexpr std::array<const char*, SNIFFER_NUM_HOOKS> kAbiHookNames = {"xdp_ingress", "tc_ingress", "tc_egress"};
inline constexpr std::array<const char*, SNIFFER_NUM_CLASSES> kClassNames = {"tcp", "udp", "icmp", "other"};
static_assert(SNIFFER_HOOK_XDP_INGRESS == 0 && SNIFFER_HOOK_TC_INGRESS == 1 && SNIFFER_HOOK_TC_EGRESS == 2);
static_assert(SNIFFER_CLASS_TCP == 0 && SNIFFER_CLASS_UDP == 1 && SNIFFER_CLASS_ICMP == 2 && SNIFFER_CLASS_OTHER == 3);

// One row of SNIFFER_STATS (abi.h explains the columns).
struct KernelCounterDef {
  int index;
  std::string_view key;
  std::string_view family;
  std::string_view labels;
  MetricKind kind;
  std::string_view help;

  // Reported per interface (and in total), or in total only.
  constexpr bool per_interface() const {
    for (std::size_t start = 0; start <= labels.size();) {
      std::size_t end = labels.find(',', start);
      if (end == std::string_view::npos) end = labels.size();
      if (labels.substr(start, end - start) == "interface") return true;
      start = end + 1;
    }
    return false;
  }
};

#define SNIFFER_STAT_KIND_COUNTER MetricKind::Counter
#define SNIFFER_STAT_KIND_GAUGE MetricKind::Gauge
#define SNIFFER_STAT_DEF_(id, index, key, family, labels, kind, help) \
  KernelCounterDef{SNIFFER_STAT_##id, key, family, labels, SNIFFER_STAT_KIND_##kind, help},
inline constexpr KernelCounterDef kKernelCounters[] = {SNIFFER_STATS(SNIFFER_STAT_DEF_)};
#undef SNIFFER_STAT_DEF_
static_assert(SNIFFER_STAT_FIRST_NAMED + std::size(kKernelCounters) == SNIFFER_NUM_STATS,
              "every kernel counter is either a packets/bytes one or a row of SNIFFER_STATS");

// A gauge (the ring's fill) sums to nothing: over CPUs and slots its value is
// the largest; every other kernel counter is the sum.
constexpr bool is_kernel_gauge(int index) {
  for (const KernelCounterDef& c : kKernelCounters) {
    if (c.index == index) return c.kind == MetricKind::Gauge;
  }
  return false;
}

// Packets the kernel dropped on the monitored interfaces (kernel/kernel_drops).
struct KernelDropCounters {
  using ByClass = std::array<std::uint64_t, SNIFFER_NUM_CLASSES>;  // indexed by SNIFFER_CLASS_*
  // interface name -> reason name (the kernel's, or "ignored") -> packets by class
  std::map<std::string, std::map<std::string, ByClass>> interfaces;
  // Not attributed to a reason of an interface, by why: "map_full" (no room
  // for a new key), "interface_gone" (counted for an interface since removed),
  // "tracepoint_missed" (runs the kernel skipped: another BPF program was
  // running on that CPU).
  NamedCounts unattributed;
};

// The kernel's counters of a run (kernel/stats).
struct KernelReport {
  KernelStats total{};                            // every slot (the ring fill: the largest)
  std::map<std::string, KernelStats> interfaces;  // by name, since the interface was configured
  std::optional<std::uint64_t> ring_size_bytes;   // live only
  std::optional<KernelDropCounters> drops;        // live, with drops on
};

// ---- userspace stages ----

// The ring reader (kernel/ring_reader).
struct RingCounters {
  std::uint64_t records_received = 0;       // packet records
  std::uint64_t flow_records_received = 0;  // flow records (kernel flow aggregation)
  std::uint64_t drop_records_received = 0;  // drop records (kernel drop reasons)
  NamedCounts decode_errors;                // by DecodeStatus name
};

// One stream of the publisher (publish/publisher).
struct PublishCounters {
  std::uint64_t batches_sent = 0;          // handed to ZeroMQ (with or without a subscriber)
  std::uint64_t items_sent = 0;
  std::uint64_t batches_unsubscribed = 0;  // of those, sent while no subscriber wanted the topic
  std::uint64_t items_unsubscribed = 0;
  std::uint64_t batches_dropped_hwm = 0;   // refused: a subscriber's queue was full
  std::uint64_t items_dropped_hwm = 0;
  std::uint64_t batch_age_ns_sum = 0;      // first item added -> batch sent, over sent batches
};

// CURVE handshakes of one ZAP domain (transport/curve_auth).
struct AuthCounters {
  std::uint64_t accepted = 0;  // handshakes of an allowed key
  std::uint64_t refused = 0;   // handshakes refused (key not allowed, not CURVE, unknown domain)
};

// The flow table, userspace (flows/flow_table) or kernel (kernel/kernel_flows).
struct FlowCounters {
  bool kernel_aggregation = false;
  std::uint64_t packets = 0;  // kernel aggregation: the kernel's flow_packets
  std::uint64_t created = 0;  // kernel aggregation: the flows the kernel started
  std::uint64_t ended = 0;
  std::uint64_t updates = 0;
  std::uint64_t evicted = 0;
  std::uint64_t active = 0;
  std::uint64_t capacity = 0;
  NamedCounts ended_by_reason;  // by FlowEndReason name
  // With kernel drop reasons: drop records counted on their flow, and those
  // of no flow in the table (or the kernel's map).
  std::uint64_t kernel_drops = 0;
  std::uint64_t kernel_drops_no_flow = 0;
  // Kernel aggregation only.
  std::uint64_t records = 0;
  std::uint64_t table_full = 0;
  std::uint64_t swept = 0;
  std::uint64_t sweeps = 0;
  std::uint64_t sweep_failures = 0;
};

// The pipeline (pipeline/): record processor, streams, flow table.
struct PipelineCounters {
  std::uint64_t records_processed = 0;
  std::uint64_t unknown_ifindex = 0;
  std::uint64_t not_ip = 0;
  std::uint64_t egress_forwarded = 0;
  std::optional<PublishCounters> events;       // the packet event stream, when on
  std::optional<PublishCounters> flow_stream;  // the flow record stream, when on
  std::optional<FlowCounters> flows;           // when flows are on
};

// One worker of the data path (capture.workers; sensor/worker): its share.
struct WorkerCounters {
  std::uint64_t records_received = 0;       // records of every kind read from its ring
  std::uint64_t records_processed = 0;      // packet records handled
  std::uint64_t flows_active = 0;           // flows in its shard of the table
};

// One monitored interface (kernel/interface_manager).
struct LinkCounters {
  bool present = false;
  bool up = false;  // IFF_UP and IFF_RUNNING
  std::uint32_t ifindex = 0;
  std::uint64_t link_down = 0;
  std::uint64_t link_up = 0;
  std::uint64_t lost = 0;
  std::uint64_t reattached = 0;
  std::uint64_t reattach_errors = 0;
  std::uint64_t hooks_missing = 0;  // configured hooks not attached while present
  std::uint64_t hooks_detached = 0;  // hooks found removed by someone else (and attached again)
};

// Prevention (prevention/): the blocklist and its control socket.
struct BlocklistCounters {
  std::uint64_t entries = 0;
  std::uint64_t capacity = 0;
  std::uint64_t expired = 0;
  std::uint64_t revoked = 0;
  // The sensor's addresses exempted now from the block entries over them,
  // per direction (Blocklist::sync_exemptions).
  std::uint64_t exemptions = 0;
  // blocklist.state_file: failed writes (each change, then a retry a second
  // while it fails), and 1 while the file lags the blocklist.
  std::uint64_t state_write_failures = 0;
  std::uint64_t state_unsaved = 0;
  NamedCounts refused;  // by reason
  std::uint64_t allowlist_hits = 0;
  std::map<std::string, NamedCounts> control;  // by command, then reply status
};

// Full-packet capture on demand (capture/), over every capture since start.
struct CaptureCounters {
  std::uint64_t running = 0;
  std::uint64_t started = 0;
  std::uint64_t written = 0;      // packets written to capture files
  std::uint64_t ring_full = 0;    // matched, lost: the captures ring was full
  std::uint64_t not_written = 0;  // read past a capture's packet limit, or after it stopped for room
  std::uint64_t failed = 0;       // captures stopped by a write error (a full disk): no file
  std::uint64_t out_of_room = 0;  // captures stopped early, their file kept: capture.keep_free_bytes reached
};

}  // namespace sniffer
