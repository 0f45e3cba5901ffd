// bench/micro_bpf: the XDP program's cost per packet through BPF_PROG_TEST_RUN
// with repeat, next to a bare parse-and-pass program (bpf/bench_bare.bpf.c),
// all variants interleaved in one run so machine noise hits them alike.
//
//   sudo bench/build/bench/micro_bpf [--repeat N] [--rounds R] [--only TEXT] [--live | --contend | --workers]
//
// Per frame and variant: the median over R rounds of the kernel's own
// average (bpf_test_run_opts.duration = ns per repetition), and the
// difference to bare. The ring is consumed after every round and sized so a
// round never fills it; the kernel's ringbuf_full counter is checked.
//
// The "flow" variants run kernel flow aggregation (bpf/flows.bpf.h
// account_flow) on the live clock: the repeated frame is one flow whose
// packets keep being added, so they measure the steady state (lookup, spin
// lock, flow_update.h), not flow creation. --contend instead measures that
// entry's spin lock: one flow's packets on two CPUs at once (the worst case
// of a shared locked entry) against two flows on two CPUs and one thread.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <deque>
#include <fstream>
#include <vector>

#include "bench_bare.skel.h"
#include "micro_bpf_workers.hpp"
#include "packet_builder.hpp"
#include "sniffer/abi.h"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/flow_table.hpp"
#include "sniffer/pipeline.hpp"
#include "micro_bpf.hpp"

using namespace sniffer;
using test::Bytes;
using test::L4;
using namespace sniffer::bench;

namespace sniffer::bench {

Bytes padded_tcp(std::size_t frame_len, std::uint16_t sport) {
  L4 tcp{.kind = L4::Tcp, .sport = sport, .dport = 443, .tcp_flags = 0x18, .window = 64240};
  Bytes f = test::ipv4_frame("198.51.100.10", "192.0.2.10", tcp);
  if (f.size() < frame_len) {
    tcp.payload.assign(frame_len - f.size(), 'x');
    f = test::ipv4_frame("198.51.100.10", "192.0.2.10", tcp);
  }
  return f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The daemon's flow parameters (config defaults) for kernel aggregation.
LoadOptions flow_options(std::uint32_t packet_sample) {
  LoadOptions o;
  o.flow_kernel = true;
  o.packet_sample = packet_sample;
  o.flow_params = flow_params(flow_table_config(FlowConfig{}));
  return o;
}

}  // namespace sniffer::bench

namespace {

struct Variant {
  std::string name;
  bool bare = false;
  std::uint32_t wakeup_bytes = 65536;
  std::uint32_t payload_bytes = 0;
  bool skip = false;
  bool exclude_22 = false;          // lab.json's filter: exclude_ports [22] (two port_filters lookups a packet)
  bool flow = false;                // kernel flow aggregation
  std::uint32_t packet_sample = 0;  // with flow: 1 in N packets also yields a record
  // Full-packet capture: slot 0 active with a filter no frame matches, or
  // one every frame matches (snap length 128: its records drained per round).
  enum class Capture { None, NoMatch, Match } capture = Capture::None;
  std::unique_ptr<BpfPrograms> progs;
  ring_buffer* ring = nullptr;
  ring_buffer* capture_ring = nullptr;
  std::atomic<std::uint64_t> captured{0};
  int fd = -1;
  std::atomic<std::uint64_t> consumed{0};
  bool off = false;  // left out by --only
};

int count_sample(void* ctx, void*, std::size_t) {
  static_cast<std::atomic<std::uint64_t>*>(ctx)->fetch_add(1, std::memory_order_relaxed);
  return 0;
}

// The variants, in the order they run and print (bare first: the others' reference).
void add_variants(std::deque<Variant>& vs) {
  auto add = [&](std::string name, bool is_bare, std::uint32_t wakeup, std::uint32_t payload, bool skip) -> Variant& {
    Variant& v = vs.emplace_back();
    v.name = std::move(name), v.bare = is_bare, v.wakeup_bytes = wakeup, v.payload_bytes = payload, v.skip = skip;
    return v;
  };
  add("bare parse+PASS", true, 0, 0, false);
  add("records, wakeup_bytes=65536 (default)", false, 65536, 0, false);
  add("records, wakeup_bytes=0 (flags 0)", false, 0, 0, false);
  add("records + 64 B snippet (lab.json)", false, 65536, 64, false);
  add("lab.json: 64 B snippet, exclude port 22", false, 65536, 64, false).exclude_22 = true;
  add("filtered out (default_action skip)", false, 65536, 0, true);
  // Kernel flow aggregation (the daemon's flows.aggregation "kernel"): no
  // packet records at all, and the config default's 1 in 100.
  add("flow (kernel, no packet records)", false, 65536, 0, false).flow = true;
  Variant& sampled = add("flow+1/100 (1 in 100 packet records)", false, 65536, 0, false);
  sampled.flow = true, sampled.packet_sample = 100;
  add("records + 1 capture, no match", false, 65536, 0, false).capture = Variant::Capture::NoMatch;
  add("records + 1 capture, all match (128 B)", false, 65536, 0, false).capture = Variant::Capture::Match;
}

// Loads a (non-bare) variant's programs with rings of ring bytes. live: its
// events ring joins the epoll set all (created by the first).
void load_variant(Variant& v, std::uint32_t ring, bool live, ring_buffer*& all) {
  LoadOptions o = v.flow ? flow_options(v.packet_sample) : LoadOptions{};
  o.ring_buffer_bytes = ring;
  o.capture_ring_bytes = ring;  // one round of 128 B captures fits as the records do
  o.wakeup_bytes = v.wakeup_bytes;
  o.payload_bytes = v.payload_bytes;
  v.progs = std::make_unique<BpfPrograms>(o);
  v.progs->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  if (v.capture != Variant::Capture::None) {
    sniffer_capture_filter f{.snaplen = 128};
    f.l4_proto = v.capture == Variant::Capture::Match ? 0 : 132;  // SCTP: none of the frames
    const std::uint32_t slot = 0;
    bpf_map_update_elem(v.progs->capture_slots_map_fd(), &slot, &f, BPF_ANY);
    v.progs->set_capture_active(1);
    v.capture_ring = ring_buffer__new(v.progs->capture_ring_fd(), count_sample, &v.captured, nullptr);
  }
  if (v.skip || v.exclude_22) {
    FilterConfig f;
    f.default_capture = !v.skip;
    if (v.exclude_22) f.exclude_ports = {22};
    v.progs->set_filter(f);
  }
  // ring_buffer__new also registers the ring in an epoll set, as the daemon
  // does, so wakeups reach a real waiter (ep_poll_callback).
  if (live && all) ring_buffer__add(all, v.progs->events_map_fd(), count_sample, &v.consumed);
  else v.ring = ring_buffer__new(v.progs->events_map_fd(), count_sample, &v.consumed, nullptr);
  if (live && !all) all = v.ring, v.ring = nullptr;
  v.fd = v.progs->xdp_prog_fd();
}

// The records column of a variant after a frame's runs (run packets, sent
// ring samples, counters before them), flagged with "!" and status 1 where
// a check fails.
std::string checked_records(const Variant& v, const KernelStats& before, std::uint64_t run, std::uint64_t sent,
                            int& status) {
  auto st = v.progs->read_stats();
  std::string recs = std::to_string(v.consumed.load());
  if (st[SNIFFER_STAT_RINGBUF_FULL] != 0) { recs += " RINGFULL!"; status = 1; }
  if (sent != v.consumed) { recs += " (emitted " + std::to_string(sent) + ")"; status = 1; }
  if (v.flow) {
    // Every packet run went into its flow, and is either sampled out
    // or a packet record; no flow lost to a full map or ring.
    auto delta = [&](int c) { return st[c] - before[c]; };
    if (delta(SNIFFER_STAT_FLOW_PACKETS) != run) {
      recs += " flow_packets " + std::to_string(delta(SNIFFER_STAT_FLOW_PACKETS)) + "!";
      status = 1;
    }
    if (delta(SNIFFER_STAT_SAMPLED_OUT) + delta(SNIFFER_STAT_RECORDS) != run) {
      recs += " sampled_out " + std::to_string(delta(SNIFFER_STAT_SAMPLED_OUT)) + "!";
      status = 1;
    }
    if (st[SNIFFER_STAT_FLOW_MAP_FULL] != 0 || st[SNIFFER_STAT_FLOW_RING_FULL] != 0) {
      recs += " FLOW_MAP/RING_FULL!";
      status = 1;
    }
  }
  return recs;
}

struct Frame { std::string name; Bytes bytes; };

// Runs one frame through every variant, interleaved per round, and prints a
// line per variant. Returns 0, 1 when a check failed, -1 when a run failed.
int measure_frame(std::deque<Variant>& vs, const Frame& fr, std::uint32_t repeat, std::uint32_t rounds, bool live) {
  std::vector<std::vector<double>> ns(vs.size());
  std::vector<KernelStats> before(vs.size());
  for (std::size_t i = 0; i < vs.size(); ++i) {
    vs[i].consumed = 0;
    if (vs[i].progs) before[i] = vs[i].progs->read_stats();
  }
  // Ring samples sent during this frame's runs: packet records, and flow
  // records (none expected: a live-clock flow neither idles nor times out here).
  auto emitted = [&](std::size_t i) {
    auto st = vs[i].progs->read_stats();
    return st[SNIFFER_STAT_RECORDS] - before[i][SNIFFER_STAT_RECORDS] + st[SNIFFER_STAT_FLOW_RECORDS] -
           before[i][SNIFFER_STAT_FLOW_RECORDS];
  };
  for (std::uint32_t r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < vs.size(); ++i) {  // interleaved: same noise for all
      if (vs[i].off) continue;
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = fr.bytes.data(),
                  .data_size_in = static_cast<__u32>(fr.bytes.size()), .repeat = static_cast<int>(repeat));
      if (bpf_prog_test_run_opts(vs[i].fd, &opts) != 0 || opts.retval != XDP_PASS) {
        std::fprintf(stderr, "test_run %s: %s retval %u\n", vs[i].name.c_str(), std::strerror(errno), opts.retval);
        return -1;
      }
      ns[i].push_back(opts.duration);
      if (vs[i].ring) ring_buffer__consume(vs[i].ring);  // never let it fill
      if (vs[i].capture_ring) ring_buffer__consume(vs[i].capture_ring);
    }
  }
  if (live) {  // let the reader catch up before counting
    for (int w = 0; w < 500; ++w) {
      bool done = true;
      for (std::size_t i = 0; i < vs.size(); ++i)
        if (vs[i].progs && vs[i].consumed != emitted(i)) done = false;
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int status = 0;
  double bare_ns = median(ns[0]);
  for (std::size_t i = 0; i < vs.size(); ++i) {
    if (vs[i].off) continue;
    std::string recs = "-";
    if (vs[i].progs) recs = checked_records(vs[i], before[i], std::uint64_t{repeat} * rounds, emitted(i), status);
    double m = median(ns[i]);
    std::printf("%-16s %-40s %9.1f %9.1f %+9.1f %10s\n", fr.name.c_str(), vs[i].name.c_str(), m,
                *std::min_element(ns[i].begin(), ns[i].end()), m - bare_ns, recs.c_str());
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t repeat = 100000, rounds = 10;
  bool live = false;  // --live: a reader thread drains the rings during the runs (epoll, as the daemon)
  bool contend = false;  // --contend: the flow entry's spin lock under 2 CPUs (run_contend)
  bool workers = false;  // --workers: capture.workers 1 vs 2 (micro_bpf_workers.cpp)
  const char* only = nullptr;  // --only TEXT: bare and the variants whose name contains TEXT
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--live")) live = true;
    else if (!std::strcmp(argv[i], "--contend")) contend = true;
    else if (!std::strcmp(argv[i], "--workers")) workers = true;
    else if (i + 1 < argc && !std::strcmp(argv[i], "--repeat")) repeat = std::strtoul(argv[++i], nullptr, 10);
    else if (i + 1 < argc && !std::strcmp(argv[i], "--rounds")) rounds = std::strtoul(argv[++i], nullptr, 10);
    else if (i + 1 < argc && !std::strcmp(argv[i], "--only")) only = argv[++i];
  }
  libbpf_set_print([](libbpf_print_level l, const char* f, va_list a) { return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0; });
  if (contend) return run_contend(repeat, rounds);
  if (workers) return sniffer::bench::run_workers(repeat, rounds);

  // Ring big enough for one round of the largest record (+8 byte header), x2.
  std::uint64_t need = std::uint64_t{repeat} * (sizeof(sniffer_record) + 64 + 8) * 2;
  std::uint32_t ring = 1u << 20;
  while (ring < need && ring < (1u << 30)) ring <<= 1;

  bench_bare* bare = bench_bare__open_and_load();
  if (!bare) { std::perror("bench_bare load"); return 1; }

  std::deque<Variant> vs;  // not movable (atomic counter)
  add_variants(vs);
  for (auto& v : vs) v.off = only && !v.bare && v.name.find(only) == std::string::npos;
  ring_buffer* all = nullptr;  // --live: every ring in one epoll set
  for (auto& v : vs) {
    if (v.off) continue;
    if (v.bare) { v.fd = bpf_program__fd(bare->progs.bench_bare); continue; }
    load_variant(v, ring, live, all);
  }

  std::atomic<bool> stop{false};
  std::thread reader;
  if (live) reader = std::thread([&] { while (!stop) { ring_buffer__poll(all, 20); ring_buffer__consume(all); } });  // + poll_interval drain, as the daemon

  L4 udp{.kind = L4::Udp, .sport = 53000, .dport = 53, .payload = std::string(32, 'q')};
  // livegen's frame (peers.sh, run.sh): 60 B, UDP with an 18-byte payload.
  L4 gen{.kind = L4::Udp, .sport = 1024, .dport = 9, .payload = std::string(18, 'g')};
  std::vector<Frame> frames = {
      {"IPv4/UDP 60 B", test::ipv4_frame("198.51.100.10", "192.0.2.10", gen)},
      {"IPv4/TCP 64 B", padded_tcp(64)},
      {"IPv6/UDP 94 B", test::ipv6_frame("2001:db8:100::10", "2001:db8:200::10", udp)},
      {"IPv4/TCP 1514 B", padded_tcp(1514)},
  };

  std::printf("micro_bpf: BPF_PROG_TEST_RUN, repeat %u x %u rounds per cell (median of rounds), ring %u MiB, %s\n",
              repeat, rounds, ring >> 20,
              live ? "LIVE: a reader thread drains the rings during the runs (epoll wakeups)"
                   : "ring drained between runs (no reader during a run)");
  // kernel.bpf_stats_enabled=1 (run.sh turns it on) adds two clock reads to every program run:
  // here about +100 ns per packet on every variant alike. Say so rather than skew quietly.
  if (std::ifstream stats_sysctl("/proc/sys/kernel/bpf_stats_enabled"); stats_sysctl.get() == '1') {
    std::printf("micro_bpf: NOTE kernel.bpf_stats_enabled=1: every run pays for its run-time accounting\n");
  }
  std::printf("%-16s %-40s %9s %9s %9s %10s\n", "frame", "variant", "ns/pkt", "min", "vs bare", "records");
  int status = 0;
  for (auto& fr : frames) {
    const int st = measure_frame(vs, fr, repeat, rounds, live);
    if (st < 0) return 1;
    status |= st;
  }
  // The flow variants' kernel counters over the whole run (checked per frame above).
  for (auto& v : vs)
    if (v.flow && !v.off) {
      auto st = v.progs->read_stats();
      std::printf("counters %s: flow_packets %llu of %llu run, packet records %llu, sampled_out %llu, "
                  "flow_map_full %llu, flow_ringbuf_full %llu\n",
                  v.name.c_str(), (unsigned long long)st[SNIFFER_STAT_FLOW_PACKETS],
                  (unsigned long long)(std::uint64_t{repeat} * rounds * frames.size()),
                  (unsigned long long)st[SNIFFER_STAT_RECORDS], (unsigned long long)st[SNIFFER_STAT_SAMPLED_OUT],
                  (unsigned long long)st[SNIFFER_STAT_FLOW_MAP_FULL], (unsigned long long)st[SNIFFER_STAT_FLOW_RING_FULL]);
    }
  stop = true;
  if (reader.joinable()) reader.join();
  if (all) ring_buffer__free(all);
  for (auto& v : vs) {
    if (v.ring) ring_buffer__free(v.ring);
    if (v.capture_ring) ring_buffer__free(v.capture_ring);
  }
  bench_bare__destroy(bare);
  return status;
}
