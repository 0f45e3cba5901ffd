// bench/livegen: a UDP packet generator on BPF_PROG_RUN live frames
// (BPF_F_TEST_XDP_LIVE_FRAMES, Linux >= 5.18), for bench/run.sh.
//
//   livegen --dev eth0 --count N [--rate PPS|max] [--threads T] [--duration S]
//           [--src-port-range A-B] [--batch B]
//   livegen --attach-pass DEV      attach an XDP_PASS program to DEV until SIGINT/SIGTERM
//
// The frame is run.sh's trafgen frame: 02:53:00:64:00:10 -> 02:53:00:64:00:01,
// IPv4 198.51.100.10 -> 192.0.2.10 TTL 64 (id 0, no flags), UDP sport A..B
// (dinc, rewritten per frame in bench/livegen.bpf.c) dport 9, 18 bytes 0x41;
// 60 bytes, IPv4 and UDP checksums valid.
//
// livegen_tx returns XDP_TX, which live mode turns into a redirect out of the
// interface named in ctx_in.ingress_ifindex (--dev). On a veth the frame is
// handed to the peer's XDP receive queue (veth_xdp_xmit): the peer needs a
// native XDP program (or GRO) or the frames are dropped and counted as tx
// errors of --dev, not as tx_packets. The sending veth needs nothing attached.
//
// Each thread is pinned to its own CPU (thread i -> i-th CPU of the affinity
// mask) and issues its own BPF_PROG_RUN calls. --rate PPS: the rate is split
// over the threads; every 10 ms a thread sends what its schedule is behind
// (repeat = that many frames, about rate/100). --rate max: back-to-back calls
// of --chunk frames. Stops at --count frames (0: no limit) or after --duration
// seconds, whichever comes first; SIGINT/SIGTERM stop it early between calls
// (never inside one, so the printed count is exact). What it prints is the
// sum of the repeat counts the kernel accepted: a claim; the interface
// counters are the truth.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "livegen.skel.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES (1U << 1)
#endif

namespace {

using Frame = std::vector<std::uint8_t>;

std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) s += (p[i] << 8) | p[i + 1];
  if (n & 1) s += p[n - 1] << 8;
  return s;
}

std::uint16_t fold(std::uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(~s);
}

void put16(std::uint8_t* p, std::uint16_t v) { p[0] = v >> 8, p[1] = v & 0xff; }

// Ethernet + IPv4 + UDP, checksums filled in (network byte order throughout).
Frame build_frame(std::uint16_t sport) {
  const std::uint8_t dst_mac[6] = {0x02, 0x53, 0x00, 0x64, 0x00, 0x01};
  const std::uint8_t src_mac[6] = {0x02, 0x53, 0x00, 0x64, 0x00, 0x10};
  const std::uint8_t saddr[4] = {198, 51, 100, 10}, daddr[4] = {192, 0, 2, 10};
  constexpr std::size_t kPayload = 18, kUdp = 8 + kPayload, kIp = 20 + kUdp;
  Frame f(14 + kIp, 0);
  std::uint8_t* e = f.data();
  std::memcpy(e, dst_mac, 6), std::memcpy(e + 6, src_mac, 6), put16(e + 12, 0x0800);
  std::uint8_t* ip = e + 14;
  ip[0] = 0x45, put16(ip + 2, kIp), ip[8] = 64, ip[9] = 17;  // id 0, flags 0, TTL 64, UDP
  std::memcpy(ip + 12, saddr, 4), std::memcpy(ip + 16, daddr, 4);
  put16(ip + 10, fold(sum16(ip, 20)));
  std::uint8_t* udp = ip + 20;
  put16(udp, sport), put16(udp + 2, 9), put16(udp + 4, kUdp);
  std::memset(udp + 8, 0x41, kPayload);
  std::uint32_t pseudo = sum16(ip + 12, 8) + 17 + kUdp;
  std::uint16_t c = fold(sum16(udp, kUdp, pseudo));
  put16(udp + 6, c ? c : 0xffff);
  return f;
}

std::atomic<bool> g_stop{false};

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Job {
  int prog_fd;
  int ifindex;
  const Frame* frame;
  std::uint32_t batch;
  std::uint32_t chunk;     // max: frames per call
  double pps;              // 0 = max
  std::uint64_t count;     // 0 = no limit
  double deadline;         // CLOCK_MONOTONIC seconds
  int cpu;
  // results
  std::uint64_t sent = 0, calls = 0, kernel_ns = 0;
  int error = 0;
};

// One BPF_PROG_RUN of n frames; false on error (errno kept in j.error).
bool run_once(Job& j, std::uint32_t n) {
  xdp_md ctx{};
  ctx.data_end = static_cast<__u32>(j.frame->size());
  ctx.ingress_ifindex = static_cast<__u32>(j.ifindex);
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = j.frame->data(),
              .data_size_in = static_cast<__u32>(j.frame->size()), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
              .repeat = static_cast<int>(n), .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = j.batch);
  if (bpf_prog_test_run_opts(j.prog_fd, &o) != 0) {
    j.error = errno;
    return false;
  }
  j.sent += n, j.calls += 1, j.kernel_ns += std::uint64_t{o.duration} * n;
  return true;
}

void worker(Job& j) {
  if (j.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j.cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  auto left = [&] { return j.count ? j.count - j.sent : ~std::uint64_t{0}; };
  if (j.pps <= 0) {  // max
    while (!g_stop.load(std::memory_order_relaxed) && left() > 0 && now_s() < j.deadline)
      if (!run_once(j, static_cast<std::uint32_t>(std::min<std::uint64_t>(j.chunk, left())))) return;
    return;
  }
  const double t0 = now_s();
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!g_stop.load(std::memory_order_relaxed) && left() > 0) {
    double t = now_s();
    if (t >= j.deadline) break;
    auto due = static_cast<std::uint64_t>((t - t0) * j.pps) + 1;  // frames the schedule wants by now
    std::uint64_t n = std::min(due > j.sent ? due - j.sent : 0, left());
    while (n > 0) {  // one call is at most 2^31 - 1 frames; split into calls of at most a second's worth
      auto k = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, std::max<std::uint64_t>(j.pps, 1)));
      if (!run_once(j, k)) return;
      n -= k;
    }
    next.tv_nsec += 10'000'000;
    if (next.tv_nsec >= 1'000'000'000) next.tv_nsec -= 1'000'000'000, next.tv_sec += 1;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
}

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Blocks SIGINT/SIGTERM in this thread and the threads it starts; returns the set.
sigset_t block_stop_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  return s;
}

int attach_pass(livegen* skel, const std::string& dev) {
  int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  if (!ifindex) {
    std::fprintf(stderr, "livegen: no interface %s: %s\n", dev.c_str(), std::strerror(errno));
    return 1;
  }
  sigset_t s = block_stop_signals();
  int fd = bpf_program__fd(skel->progs.livegen_pass);
  if (bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr) != 0) {
    std::fprintf(stderr, "livegen: attach XDP_PASS (native) to %s: %s\n", dev.c_str(), std::strerror(errno));
    return 1;
  }
  std::printf("livegen: XDP_PASS attached to %s (native), until SIGINT/SIGTERM\n", dev.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&s, &sig);
  if (bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr) != 0) {
    std::fprintf(stderr, "livegen: detach from %s: %s\n", dev.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"UDP generator on BPF_PROG_RUN live frames (XDP_TX out of --dev)"};
  std::string dev, rate_s = "max", ports = "1024-2047", pass_dev;
  std::uint64_t count = 0;
  unsigned threads = 1;
  std::uint32_t batch = 64, chunk = 65536;
  double duration = 0;
  app.add_option("--dev", dev, "interface the frames leave through (its ifindex is ctx_in.ingress_ifindex)");
  app.add_option("--count", count, "frames in total, over all threads (0: no limit, then give --duration)");
  app.add_option("--rate", rate_s, "frames per second over all threads, or max")->capture_default_str();
  app.add_option("--threads", threads, "sending threads, each pinned to its own CPU")->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--duration", duration, "stop after this many seconds (0: when --count is reached)");
  app.add_option("--src-port-range", ports, "UDP source ports A-B, cycled per frame (A-A: fixed)")
      ->capture_default_str();
  app.add_option("--batch", batch, "batch_size of BPF_PROG_RUN (frames per xdp_do_flush, 1..256)")
      ->capture_default_str()->check(CLI::Range(1u, 256u));
  app.add_option("--chunk", chunk, "max: frames per BPF_PROG_RUN call")->capture_default_str()
      ->check(CLI::Range(1u, 1u << 30));
  app.add_option("--attach-pass", pass_dev, "attach an XDP_PASS program to this interface (native mode) "
                 "until SIGINT/SIGTERM, then detach; nothing is sent");
  CLI11_PARSE(app, argc, argv);

  unsigned lo = 0, hi = 0;
  char tail = 0;
  if (std::sscanf(ports.c_str(), "%u-%u%c", &lo, &hi, &tail) != 2 || lo < 1 || hi > 65535 || lo > hi) {
    std::fprintf(stderr, "livegen: --src-port-range wants A-B with 1 <= A <= B <= 65535, got %s\n", ports.c_str());
    return 2;
  }
  double pps = 0;
  if (rate_s != "max") {
    char* end = nullptr;
    pps = std::strtod(rate_s.c_str(), &end);
    if (*end || pps <= 0) {
      std::fprintf(stderr, "livegen: --rate wants a positive number or max, got %s\n", rate_s.c_str());
      return 2;
    }
  }

  libbpf_set_print([](libbpf_print_level l, const char* f, va_list a) {
    return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0;
  });
  livegen* skel = livegen__open();
  if (!skel) {
    std::perror("livegen: open skeleton");
    return 1;
  }
  const Frame frame = build_frame(static_cast<std::uint16_t>(lo));
  if (frame.size() != sizeof(skel->rodata->tmpl)) {
    std::fprintf(stderr, "livegen: frame is %zu B, livegen.bpf.c's template %zu B\n", frame.size(),
                 sizeof(skel->rodata->tmpl));
    livegen__destroy(skel);
    return 1;
  }
  std::memcpy(const_cast<__u32*>(skel->rodata->tmpl), frame.data(), frame.size());  // rewritten on every run
  skel->rodata->port_lo = static_cast<__u16>(lo);
  skel->rodata->port_span = lo == hi ? 0 : hi - lo + 1;
  if (livegen__load(skel) != 0) {
    std::perror("livegen: load");
    livegen__destroy(skel);
    return 1;
  }
  if (!pass_dev.empty()) {
    int rc = attach_pass(skel, pass_dev);
    livegen__destroy(skel);
    return rc;
  }
  if (dev.empty() || (count == 0 && duration <= 0)) {
    std::fprintf(stderr, "livegen: need --dev and --count N (or --duration S)\n");
    livegen__destroy(skel);
    return 2;
  }
  int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  if (!ifindex) {
    std::fprintf(stderr, "livegen: no interface %s: %s\n", dev.c_str(), std::strerror(errno));
    livegen__destroy(skel);
    return 1;
  }

  const std::vector<int> cpus = allowed_cpus();
  sigset_t stop_sigs = block_stop_signals();  // the workers inherit the mask: no EINTR inside a run
  const double t0 = now_s();
  const double deadline = duration > 0 ? t0 + duration : 1e300;
  std::vector<Job> jobs(threads);
  for (unsigned i = 0; i < threads; ++i) {
    Job& j = jobs[i];
    j.prog_fd = bpf_program__fd(skel->progs.livegen_tx), j.ifindex = ifindex, j.frame = &frame;
    j.batch = batch, j.chunk = chunk, j.pps = pps / threads, j.deadline = deadline;
    j.count = count ? count / threads + (i < count % threads ? 1 : 0) : 0;
    j.cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    if (count && j.count == 0) j.count = 0, j.deadline = 0;  // more threads than frames
  }
  std::vector<std::thread> ts;
  for (auto& j : jobs) ts.emplace_back(worker, std::ref(j));
  // Wait for the workers, or a stop signal (then stop them between calls).
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    g_stop = true;
  });
  for (auto& t : ts) t.join();
  const double secs = now_s() - t0;
  if (!g_stop.exchange(true)) pthread_kill(waiter.native_handle(), SIGTERM);  // wake sigwait
  waiter.join();

  std::uint64_t sent = 0, calls = 0, kns = 0;
  int status = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    sent += jobs[i].sent, calls += jobs[i].calls, kns += jobs[i].kernel_ns;
    if (jobs[i].error) {
      std::fprintf(stderr, "livegen: thread %zu (cpu %d): BPF_PROG_RUN live frames on %s: %s\n", i, jobs[i].cpu,
                   dev.c_str(), std::strerror(jobs[i].error));
      status = 1;
    }
  }
  std::printf("livegen: claimed %llu frames of %zu B out of %s in %.3f s = %.0f pps (%u thread%s, rate %s, "
              "batch %u, %llu calls, kernel %.0f ns/frame, sport %u-%u)\n",
              static_cast<unsigned long long>(sent), frame.size(), dev.c_str(), secs, secs > 0 ? sent / secs : 0.0,
              threads, threads == 1 ? "" : "s", rate_s.c_str(), batch, static_cast<unsigned long long>(calls),
              sent ? static_cast<double>(kns) / sent : 0.0, lo, hi);
  livegen__destroy(skel);
  return status;
}
