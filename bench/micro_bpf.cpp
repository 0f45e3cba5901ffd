// bench/micro_bpf: the XDP program's cost per packet through BPF_PROG_TEST_RUN
// with repeat, next to a bare parse-and-pass program (bpf/bench_bare.bpf.c),
// all variants interleaved in one run so machine noise hits them alike.
//
//   sudo bench/build/bench/micro_bpf [--repeat N] [--rounds R]
//
// Per frame and variant: the median over R rounds of the kernel's own
// average (bpf_test_run_opts.duration = ns per repetition), and the
// difference to bare. The ring is consumed after every round and sized so a
// round never fills it; the kernel's ringbuf_full counter is checked.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

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
#include "packet_builder.hpp"
#include "sniffer/abi.h"
#include "sniffer/bpf_loader.hpp"

using namespace sniffer;
using test::Bytes;
using test::L4;

namespace {

constexpr std::uint32_t kLoopback = 1;  // PROG_TEST_RUN frames arrive on lo

struct Variant {
  std::string name;
  bool bare = false;
  std::uint32_t wakeup_bytes = 65536;
  std::uint32_t payload_bytes = 0;
  bool skip = false;
  std::unique_ptr<BpfPrograms> progs;
  ring_buffer* ring = nullptr;
  int fd = -1;
  std::atomic<std::uint64_t> consumed{0};
};

int count_sample(void* ctx, void*, std::size_t) {
  static_cast<std::atomic<std::uint64_t>*>(ctx)->fetch_add(1, std::memory_order_relaxed);
  return 0;
}

Bytes padded_tcp(std::size_t frame_len) {
  L4 tcp{.kind = L4::Tcp, .sport = 40000, .dport = 443, .tcp_flags = 0x18, .window = 64240};
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

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t repeat = 100000, rounds = 10;
  bool live = false;  // --live: a reader thread drains the rings during the runs (epoll, as the daemon)
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--live")) live = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--repeat")) repeat = std::strtoul(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::strtoul(argv[i + 1], nullptr, 10);
  }
  libbpf_set_print([](libbpf_print_level l, const char* f, va_list a) { return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0; });

  // Ring big enough for one round of the largest record (+8 byte header), x2.
  std::uint64_t need = std::uint64_t{repeat} * (sizeof(sniffer_record) + 64 + 8) * 2;
  std::uint32_t ring = 1u << 20;
  while (ring < need && ring < (1u << 30)) ring <<= 1;

  bench_bare* bare = bench_bare__open_and_load();
  if (!bare) { std::perror("bench_bare load"); return 1; }

  std::deque<Variant> vs;  // not movable (atomic counter)
  auto add = [&](std::string name, bool is_bare, std::uint32_t wakeup, std::uint32_t payload, bool skip) {
    Variant& v = vs.emplace_back();
    v.name = std::move(name), v.bare = is_bare, v.wakeup_bytes = wakeup, v.payload_bytes = payload, v.skip = skip;
  };
  add("bare parse+PASS", true, 0, 0, false);
  add("records, wakeup_bytes=65536 (default)", false, 65536, 0, false);
  add("records, wakeup_bytes=0 (flags 0)", false, 0, 0, false);
  add("records + 64 B snippet (lab.json)", false, 65536, 64, false);
  add("filtered out (default_action skip)", false, 65536, 0, true);
  ring_buffer* all = nullptr;  // --live: every ring in one epoll set
  for (auto& v : vs) {
    if (v.bare) { v.fd = bpf_program__fd(bare->progs.bench_bare); continue; }
    LoadOptions o;
    o.ring_buffer_bytes = ring;
    o.wakeup_bytes = v.wakeup_bytes;
    o.payload_bytes = v.payload_bytes;
    v.progs = std::make_unique<BpfPrograms>(o);
    v.progs->set_interface(kLoopback, Mode::Gateway, Role::Wan, 1);
    if (v.skip) {
      FilterConfig f;
      f.default_capture = false;
      v.progs->set_filter(f);
    }
    // ring_buffer__new also registers the ring in an epoll set, as the daemon
    // does, so wakeups reach a real waiter (ep_poll_callback).
    if (live && all) ring_buffer__add(all, v.progs->events_map_fd(), count_sample, &v.consumed);
    else v.ring = ring_buffer__new(v.progs->events_map_fd(), count_sample, &v.consumed, nullptr);
    if (live && !all) all = v.ring, v.ring = nullptr;
    v.fd = v.progs->xdp_prog_fd();
  }

  std::atomic<bool> stop{false};
  std::thread reader;
  if (live) reader = std::thread([&] { while (!stop) { ring_buffer__poll(all, 20); ring_buffer__consume(all); } });  // + poll_interval drain, as the daemon

  struct Frame { std::string name; Bytes bytes; };
  L4 udp{.kind = L4::Udp, .sport = 53000, .dport = 53, .payload = std::string(32, 'q')};
  std::vector<Frame> frames = {
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
    std::vector<std::vector<double>> ns(vs.size());
    std::vector<std::uint64_t> before(vs.size());
    for (std::size_t i = 0; i < vs.size(); ++i) {
      vs[i].consumed = 0;
      if (vs[i].progs) before[i] = vs[i].progs->read_stats()[SNIFFER_STAT_RECORDS];
    }
    for (std::uint32_t r = 0; r < rounds; ++r) {
      for (std::size_t i = 0; i < vs.size(); ++i) {  // interleaved: same noise for all
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = fr.bytes.data(),
                    .data_size_in = static_cast<__u32>(fr.bytes.size()), .repeat = static_cast<int>(repeat));
        if (bpf_prog_test_run_opts(vs[i].fd, &opts) != 0 || opts.retval != XDP_PASS) {
          std::fprintf(stderr, "test_run %s: %s retval %u\n", vs[i].name.c_str(), std::strerror(errno), opts.retval);
          return 1;
        }
        ns[i].push_back(opts.duration);
        if (vs[i].ring) ring_buffer__consume(vs[i].ring);  // never let it fill
      }
    }
    if (live) {  // let the reader catch up before counting
      for (int w = 0; w < 500; ++w) {
        bool done = true;
        for (std::size_t i = 0; i < vs.size(); ++i)
          if (vs[i].progs && vs[i].consumed != vs[i].progs->read_stats()[SNIFFER_STAT_RECORDS] - before[i]) done = false;
        if (done) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    double bare_ns = median(ns[0]);
    for (std::size_t i = 0; i < vs.size(); ++i) {
      std::string recs = "-";
      if (vs[i].progs) {
        auto st = vs[i].progs->read_stats();
        std::uint64_t emitted = st[SNIFFER_STAT_RECORDS] - before[i];
        recs = std::to_string(vs[i].consumed.load());
        if (st[SNIFFER_STAT_RINGBUF_FULL] != 0) { recs += " RINGFULL!"; status = 1; }
        if (emitted != vs[i].consumed) { recs += " (emitted " + std::to_string(emitted) + ")"; status = 1; }
      }
      double m = median(ns[i]);
      std::printf("%-16s %-40s %9.1f %9.1f %+9.1f %10s\n", fr.name.c_str(), vs[i].name.c_str(), m,
                  *std::min_element(ns[i].begin(), ns[i].end()), m - bare_ns, recs.c_str());
    }
  }
  stop = true;
  if (reader.joinable()) reader.join();
  if (all) ring_buffer__free(all);
  for (auto& v : vs)
    if (v.ring) ring_buffer__free(v.ring);
  bench_bare__destroy(bare);
  return status;
}
