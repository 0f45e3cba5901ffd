// bench/micro_bpf --contend (run_contend): kernel flow aggregation's entry
// lock under two CPUs. See micro_bpf.cpp.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "micro_bpf.hpp"
#include "sniffer/abi.h"
#include "sniffer/bpf_loader.hpp"

using namespace sniffer;
using test::Bytes;

namespace {

// The first two CPUs this process may run on (the contention threads' CPUs).
bool two_cpus(int cpu[2]) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE && n < 2; ++c)
    if (CPU_ISSET(c, &set)) cpu[n++] = c;
  return n == 2;
}

}  // namespace

namespace sniffer::bench {

// --contend: the "flow" variant's cost per packet when 1 or 2 threads, each
// pinned to its own CPU, run it at the same time, on the same flow (both
// write the same map entry under its bpf_spin_lock: lock wait plus the
// entry's cache lines bouncing between CPUs) or on two flows (different
// source ports: separate entries, nothing written in common; the stats and
// flow_out maps are per-CPU). All cases share one loaded program and map and
// are interleaved per round, every thread with the same repeat; one thread
// alone runs on each CPU, since the host slows the two vCPUs unevenly.
//
// The runs do overlap: with repeat > 1 the kernel adds the program to the
// XDP dispatcher around the loop (bpf_prog_change_xdp). The first thread to
// do so waits for an RCU grace period (ms) under the dispatcher's mutex while
// the other waits on that mutex, and then only takes a reference, so both
// loops start within microseconds. The wall time of a call (grace periods
// included) says nothing about that; the loops' own times do.
int run_contend(std::uint32_t repeat, std::uint32_t rounds) {
  int cpu[2];
  if (!two_cpus(cpu)) { std::fprintf(stderr, "--contend needs 2 CPUs\n"); return 1; }
  BpfPrograms progs(flow_options(0));
  progs.set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
  const int fd = progs.xdp_prog_fd();
  const Bytes a = padded_tcp(64), b = padded_tcp(64, 40001);

  struct Case {
    std::string name;
    std::vector<const Bytes*> frames;  // thread t runs frames[t] on cpus[t]
    std::vector<int> cpus;
    std::vector<std::vector<double>> ns = {};  // [thread][round]
    std::vector<double> agg = {};              // per round, Mpps
  };
  std::vector<Case> cases = {{"1 thread", {&a}, {cpu[0]}},
                             {"1 thread", {&a}, {cpu[1]}},
                             {"2 threads, same flow", {&a, &a}, {cpu[0], cpu[1]}},
                             {"2 threads, 2 flows", {&a, &b}, {cpu[0], cpu[1]}}};
  for (auto& c : cases) c.ns.resize(c.frames.size());

  const KernelStats before = progs.read_stats();
  std::uint64_t run = 0;
  for (std::uint32_t r = 0; r < rounds; ++r) {
    for (auto& c : cases) {  // interleaved: same noise for all
      const std::size_t n = c.frames.size();
      std::vector<double> dur(n);
      std::atomic<std::size_t> ready{0};
      std::atomic<bool> failed{false};
      std::vector<std::thread> th;
      for (std::size_t t = 0; t < n; ++t)
        th.emplace_back([&, t] {
          cpu_set_t set;
          CPU_ZERO(&set);
          CPU_SET(c.cpus[t], &set);
          if (sched_setaffinity(0, sizeof set, &set) != 0) failed = true;
          ready.fetch_add(1);
          while (ready.load() < n) {}  // enter the kernel together (see above)
          const Bytes& f = *c.frames[t];
          LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<__u32>(f.size()),
                      .repeat = static_cast<int>(repeat));
          if (bpf_prog_test_run_opts(fd, &opts) != 0 || opts.retval != XDP_PASS) failed = true;
          dur[t] = opts.duration;
        });
      for (auto& t : th) t.join();
      if (failed) { std::fprintf(stderr, "test_run %s: failed\n", c.name.c_str()); return 1; }
      run += std::uint64_t{repeat} * n;
      for (std::size_t t = 0; t < n; ++t) c.ns[t].push_back(dur[t]);
      // Every thread's packets over the longest loop: when one thread is
      // slower, the other's lead is not counted as parallel throughput.
      c.agg.push_back(1e3 * n / *std::max_element(dur.begin(), dur.end()));
    }
  }

  std::printf("micro_bpf --contend: sniffer_xdp, kernel flow aggregation (packet_sample 0), IPv4/TCP 64 B, "
              "repeat %u x %u rounds per thread (median of rounds)\n",
              repeat, rounds);
  if (std::ifstream stats_sysctl("/proc/sys/kernel/bpf_stats_enabled"); stats_sysctl.get() == '1')
    std::printf("micro_bpf: NOTE kernel.bpf_stats_enabled=1: every run pays for its run-time accounting\n");
  std::printf("%-22s %5s %9s %9s %11s %10s\n", "case", "cpu", "ns/pkt", "min", "vs 1 thr", "agg Mpps");
  auto alone = [&](int on) { return median(cases[on == cpu[0] ? 0 : 1].ns[0]); };  // 1 thread on that CPU
  for (auto& c : cases)
    for (std::size_t t = 0; t < c.frames.size(); ++t) {
      double m = median(c.ns[t]);
      char agg[16] = "";
      if (t == 0) std::snprintf(agg, sizeof agg, "%.2f", median(c.agg));
      std::printf("%-22s %5d %9.1f %9.1f %+11.1f %10s\n", t == 0 ? c.name.c_str() : "", c.cpus[t], m,
                  *std::min_element(c.ns[t].begin(), c.ns[t].end()), m - alone(c.cpus[t]), agg);
    }

  // Every packet added to a flow, none lost, and two flows only (a, b): the
  // same-flow runs really shared one entry.
  const KernelStats st = progs.read_stats();
  const std::uint64_t flow_pkts = st[SNIFFER_STAT_FLOW_PACKETS] - before[SNIFFER_STAT_FLOW_PACKETS];
  const bool ok = flow_pkts == run && st[SNIFFER_STAT_FLOW_MAP_FULL] == 0 && st[SNIFFER_STAT_FLOW_RING_FULL] == 0 &&
                  progs.flows_created() == 2;
  std::printf("counters: flow_packets %llu of %llu run, flow_map_full %llu, flow_ringbuf_full %llu, flows %llu%s\n",
              (unsigned long long)flow_pkts, (unsigned long long)run,
              (unsigned long long)st[SNIFFER_STAT_FLOW_MAP_FULL], (unsigned long long)st[SNIFFER_STAT_FLOW_RING_FULL],
              (unsigned long long)progs.flows_created(), ok ? "" : "  MISMATCH!");
  return ok ? 0 : 1;
}

}  // namespace sniffer::bench
