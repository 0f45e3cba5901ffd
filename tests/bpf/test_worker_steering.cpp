// bpf tier, capture.workers: the programs steer each flow to one worker's
// ring by the keyed hash of sniffer/worker_shard.h, under the key the loader
// gave them (red-team F13: a key drawn per load, so that flows chosen offline
// do not pile onto one worker). The daemon's kernel flow sweep computes the
// same hash with BpfPrograms::worker_key(): the ring the programs chose must
// be the one that hash gives.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "frame.hpp"
#include "privileges.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/record.hpp"
#include "sniffer/worker_shard.h"

namespace sniffer::test {
namespace {

constexpr std::uint32_t kWorkers = 4;
constexpr std::uint32_t kLo = 1;  // PROG_TEST_RUN frames arrive on lo
constexpr std::uint32_t kPass = 2;

// The programs loaded with kWorkers rings, each drained into its own list.
class Steered {
 public:
  explicit Steered(std::optional<WorkerKey> key, std::uint32_t workers = kWorkers) : got_(workers) {
    LoadOptions o;
    o.workers = workers;
    o.worker_key = key;
    progs_ = std::make_unique<BpfPrograms>(o);
    progs_->set_interface(kLo, Mode::Gateway, Role::Wan, 1);
    for (auto& got : got_) {
      const int fd = progs_->events_map_fd(static_cast<std::uint32_t>(&got - got_.data()));
      rings_.push_back(ring_buffer__new(fd, &Steered::on_record, &got, nullptr));
    }
  }
  ~Steered() {
    for (auto* r : rings_) ring_buffer__free(r);
  }
  Steered(const Steered&) = delete;
  Steered& operator=(const Steered&) = delete;

  const BpfPrograms& progs() const { return *progs_; }

  // Runs frame through XDP: the worker whose ring got its one record, after
  // checking that the keyed hash of the record's endpoints gives that worker.
  std::uint32_t worker_of(const Bytes& frame) {
    for (auto& got : got_) got.clear();
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()));
    EXPECT_EQ(bpf_prog_test_run_opts(progs_->xdp_prog_fd(), &opts), 0);
    EXPECT_EQ(opts.retval, kPass);
    std::uint32_t found = ~0u;
    for (auto* r : rings_) ring_buffer__consume(r);
    for (std::uint32_t w = 0; w < got_.size(); ++w) {
      for (const sniffer_record& rec : got_[w]) {
        EXPECT_EQ(found, ~0u) << "a second record";
        found = w;
        EXPECT_EQ(sniffer_worker_of(rec.saddr, rec.sport, rec.daddr, rec.dport, rec.l4_proto,
                                    static_cast<std::uint32_t>(got_.size()), progs_->worker_key().data()),
                  w);
      }
    }
    EXPECT_NE(found, ~0u) << "no record";
    return found;
  }

 private:
  static int on_record(void* ctx, void* data, std::size_t size) {
    DecodedRecord rec;
    const DecodeStatus st = decode_record(data, size, 0, rec);
    EXPECT_EQ(st, DecodeStatus::Ok) << to_string(st);
    if (st == DecodeStatus::Ok) static_cast<std::vector<sniffer_record>*>(ctx)->push_back(rec.header);
    return 0;
  }
  std::unique_ptr<BpfPrograms> progs_;
  std::vector<std::vector<sniffer_record>> got_;
  std::vector<ring_buffer*> rings_;
};

// Flow i in one direction or the other: IPv4/UDP and IPv6/TCP alternately.
Bytes flow_frame(int i, bool back) {
  const auto port = static_cast<std::uint16_t>(20000 + 37 * i), service = static_cast<std::uint16_t>(53 + i % 3);
  const std::string v4 = "198.51.100." + std::to_string(1 + i % 200), v6 = "2001:db8:1::" + std::to_string(i);
  if (i % 2 == 0) {
    return Frame{}
        .ipv4({.src = back ? "192.0.2.10" : v4.c_str(), .dst = back ? v4.c_str() : "192.0.2.10"})
        .udp({.sport = back ? service : port, .dport = back ? port : service, .payload = "q"});
  }
  return Frame{}
      .ipv6({.src = back ? "2001:db8:2::10" : v6.c_str(), .dst = back ? v6.c_str() : "2001:db8:2::10"})
      .tcp({.sport = back ? service : port, .dport = back ? port : service, .flags = kAck});
}

constexpr int kFlows = 64;

// Each flow's worker; both of its directions must have it.
std::vector<std::uint32_t> steer_flows(Steered& loaded) {
  std::vector<std::uint32_t> workers;
  for (int i = 0; i < kFlows; ++i) {
    const std::uint32_t there = loaded.worker_of(flow_frame(i, false));
    EXPECT_EQ(loaded.worker_of(flow_frame(i, true)), there) << "flow " << i << ": its two directions split";
    workers.push_back(there);
  }
  return workers;
}

int moved(const std::vector<std::uint32_t>& x, const std::vector<std::uint32_t>& y) {
  int n = 0;
  for (std::size_t i = 0; i < x.size(); ++i) n += x[i] != y[i];
  return n;
}

// Two loads with different keys: each keeps a flow's directions together and
// uses every ring, but they steer the same flows differently (a flow keeps
// its worker by chance, 1 in 4: 16 of 64 expected, sigma 3.5).
TEST(WorkerSteering, TwoKeysSteerTheSameFlowsDifferently) {
  SNIFFER_REQUIRE_ROOT();
  std::vector<std::vector<std::uint32_t>> by_key;
  for (const WorkerKey& key : {WorkerKey{0x01234567, 0x89abcdef, 0x0badf00d, 0xdeadbeef, 0x5eed},
                               WorkerKey{0x76543210, 0xfedcba98, 0xf00dbad0, 0xbeefdead, 0xd33e}}) {
    Steered loaded(key);
    by_key.push_back(steer_flows(loaded));
    std::array<int, kWorkers> per_worker{};
    for (std::uint32_t w : by_key.back()) ++per_worker[w % kWorkers];
    for (int n : per_worker) EXPECT_GT(n, 0) << "a ring left empty";
  }
  EXPECT_GE(moved(by_key[0], by_key[1]), 32);
}

// Without a key in the options (the daemon), the loader draws one per load:
// two loads get two keys, and the programs steer by the key worker_key()
// reports (checked per record by worker_of). One worker: no key, one ring.
TEST(WorkerSteering, EachLoadDrawsItsOwnKeyAndTheProgramsUseIt) {
  SNIFFER_REQUIRE_ROOT();
  Steered first(std::nullopt), second(std::nullopt);
  EXPECT_NE(first.progs().worker_key(), WorkerKey{});
  EXPECT_NE(first.progs().worker_key(), second.progs().worker_key());
  EXPECT_GE(moved(steer_flows(first), steer_flows(second)), 32);
  Steered one(std::nullopt, 1);
  EXPECT_EQ(one.progs().worker_key(), WorkerKey{});
  for (int i = 0; i < 8; ++i) EXPECT_EQ(one.worker_of(flow_frame(i, i % 2)), 0u);
}

}  // namespace
}  // namespace sniffer::test
