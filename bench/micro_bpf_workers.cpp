#include "micro_bpf_workers.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "packet_builder.hpp"
#include "sniffer/abi.h"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/pipeline.hpp"

namespace sniffer::bench {
namespace {

using test::Bytes;
using test::L4;

constexpr std::uint32_t kLoopback = 1;  // PROG_TEST_RUN frames arrive on lo

Bytes udp_frame(std::uint16_t sport) {
  L4 udp{.kind = L4::Udp, .sport = sport, .dport = 9, .payload = std::string(64, 'q')};
  return test::ipv4_frame("198.51.100.10", "192.0.2.10", udp);
}

int count_record(void* ctx, void*, std::size_t) {
  ++*static_cast<std::uint64_t*>(ctx);
  return 0;
}

// lab.json's packet records (64 B snippets, wakeup_bytes 65536) with `workers`
// rings, each drained by its own ring_buffer (consumed[w]).
struct Loaded {
  std::unique_ptr<BpfPrograms> progs;
  std::vector<ring_buffer*> rings;
  std::vector<std::uint64_t> consumed;
  Loaded(std::uint32_t workers, std::uint32_t ring_bytes) : consumed(workers) {
    LoadOptions o;
    o.workers = workers, o.ring_buffer_bytes = ring_bytes, o.payload_bytes = 64, o.wakeup_bytes = 65536;
    progs = std::make_unique<BpfPrograms>(o);
    progs->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
    for (std::uint32_t w = 0; w < workers; ++w)
      rings.push_back(ring_buffer__new(progs->events_map_fd(w), count_record, &consumed[w], nullptr));
  }
  ~Loaded() { for (auto* r : rings) ring_buffer__free(r); }
  void drain() { for (auto* r : rings) ring_buffer__consume(r); }
  // The worker whose ring receives this frame's record (one test run).
  std::uint32_t worker_of(const Bytes& f) {
    drain();
    auto before = consumed;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<__u32>(f.size()));
    bpf_prog_test_run_opts(progs->xdp_prog_fd(), &opts);
    drain();
    for (std::uint32_t w = 0; w < consumed.size(); ++w)
      if (consumed[w] != before[w]) return w;
    return ~0u;
  }
};

// One run: thread t sends frames[t] `repeat` times on cpus[t], all at once;
// returns each thread's ns per packet.
std::vector<double> run_threads(int prog_fd, const std::vector<const Bytes*>& frames, const std::vector<int>& cpus,
                                std::uint32_t repeat, bool& failed) {
  std::vector<double> ns(frames.size());
  std::atomic<std::size_t> ready{0};
  std::vector<std::thread> th;
  for (std::size_t t = 0; t < frames.size(); ++t)
    th.emplace_back([&, t] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpus[t], &set);
      if (sched_setaffinity(0, sizeof set, &set) != 0) failed = true;
      ready.fetch_add(1);
      while (ready.load() < frames.size()) {}  // enter the kernel together
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frames[t]->data(),
                  .data_size_in = static_cast<__u32>(frames[t]->size()), .repeat = static_cast<int>(repeat));
      if (bpf_prog_test_run_opts(prog_fd, &opts) != 0 || opts.retval != XDP_PASS) failed = true;
      ns[t] = opts.duration;
    });
  for (auto& t : th) t.join();
  return ns;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

int run_workers(std::uint32_t repeat, std::uint32_t rounds) {
  cpu_set_t set;
  int cpu[2], n = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE && n < 2; ++c)
      if (CPU_ISSET(c, &set)) cpu[n++] = c;
  if (n < 2) { std::fprintf(stderr, "--workers needs 2 CPUs\n"); return 1; }
  // Two rounds of both threads' records fit one ring (+8 B ring header each).
  std::uint64_t need = std::uint64_t{repeat} * (sizeof(sniffer_record) + 64 + 8) * 4;
  std::uint32_t ring = 1u << 20;
  while (ring < need && ring < (1u << 30)) ring <<= 1;
  Loaded one(1, ring), two(2, ring);
  // Two flows that the hash gives to different workers (a on 0's ring or 1's, b on the other).
  const Bytes a = udp_frame(1024);
  Bytes b;
  const std::uint32_t wa = two.worker_of(a);
  for (std::uint16_t p = 1025; p < 1100 && b.empty(); ++p)
    if (Bytes f = udp_frame(p); two.worker_of(f) != wa && wa != ~0u) b = f;
  if (b.empty()) { std::fprintf(stderr, "--workers: no second flow on the other worker\n"); return 1; }

  struct Case { std::string name; Loaded* l; std::vector<const Bytes*> frames; std::vector<int> cpus;
                std::vector<std::vector<double>> ns; };
  std::vector<Case> cases = {{"1 worker, 1 thread", &one, {&a}, {cpu[0]}, {}},
                             {"2 workers, 1 thread", &two, {&a}, {cpu[0]}, {}},
                             {"1 worker, 2 threads", &one, {&a, &b}, {cpu[0], cpu[1]}, {}},
                             {"2 workers, 2 threads", &two, {&a, &b}, {cpu[0], cpu[1]}, {}}};
  bool failed = false;
  std::uint64_t sent = 0;
  const std::uint64_t consumed0 = one.consumed[0] + two.consumed[0] + two.consumed[1];
  for (auto& c : cases) c.ns.resize(c.frames.size());
  for (std::uint32_t r = 0; r < rounds && !failed; ++r)
    for (auto& c : cases) {  // interleaved: same noise for all
      auto ns = run_threads(c.l->progs->xdp_prog_fd(), c.frames, c.cpus, repeat, failed);
      for (std::size_t t = 0; t < ns.size(); ++t) c.ns[t].push_back(ns[t]);
      sent += std::uint64_t{repeat} * c.frames.size();
      c.l->drain();
    }
  if (failed) { std::fprintf(stderr, "--workers: a test run failed\n"); return 1; }

  std::printf("micro_bpf --workers: sniffer_xdp, packet records + 64 B snippet (lab.json), IPv4/UDP %zu B, 2 flows "
              "(on different workers with 2), repeat %u x %u rounds per thread (median of rounds)\n",
              a.size(), repeat, rounds);
  std::printf("%-22s %5s %9s %9s\n", "case", "cpu", "ns/pkt", "min");
  for (auto& c : cases)
    for (std::size_t t = 0; t < c.frames.size(); ++t)
      std::printf("%-22s %5d %9.1f %9.1f\n", t == 0 ? c.name.c_str() : "", c.cpus[t], median(c.ns[t]),
                  *std::min_element(c.ns[t].begin(), c.ns[t].end()));
  const KernelStats s1 = one.progs->read_stats(), s2 = two.progs->read_stats();
  const std::uint64_t got = one.consumed[0] + two.consumed[0] + two.consumed[1] - consumed0;
  const bool ok = got == sent && s1[SNIFFER_STAT_RINGBUF_FULL] == 0 && s2[SNIFFER_STAT_RINGBUF_FULL] == 0;
  std::printf("records: %llu consumed of %llu sent (2 workers: ring 0 %llu, ring 1 %llu in all), ringbuf_full %llu + %llu%s\n",
              (unsigned long long)got, (unsigned long long)sent, (unsigned long long)two.consumed[0],
              (unsigned long long)two.consumed[1], (unsigned long long)s1[SNIFFER_STAT_RINGBUF_FULL],
              (unsigned long long)s2[SNIFFER_STAT_RINGBUF_FULL], ok ? "" : "  MISMATCH!");
  return ok ? 0 : 1;
}

}  // namespace sniffer::bench
