#include "programs_fixture.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "privileges.hpp"
#include "sniffer/record.hpp"

namespace sniffer::test {

std::string address(const std::uint8_t* bytes, int ip_version) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip_version == 6 ? AF_INET6 : AF_INET, bytes, buf, sizeof(buf));
  return buf;
}

void expect_record(const Captured& got, const RecordFields& want, const std::string& what) {
  const sniffer_record& h = got.header;
#define SNIFFER_EXPECT_FIELD(field, value)                                             \
  if (want.field) {                                                                     \
    EXPECT_EQ(static_cast<std::uint64_t>(value), *want.field) << what << ": " #field; \
  }
  SNIFFER_EXPECT_FIELD(record_len, h.record_len)
  SNIFFER_EXPECT_FIELD(ifindex, h.ifindex)
  SNIFFER_EXPECT_FIELD(wire_len, h.wire_len)
  SNIFFER_EXPECT_FIELD(hook, h.hook)
  SNIFFER_EXPECT_FIELD(mode, h.mode)
  SNIFFER_EXPECT_FIELD(is_wan_facing, h.is_wan_facing)
  SNIFFER_EXPECT_FIELD(ip_version, h.ip_version)
  SNIFFER_EXPECT_FIELD(l4_proto, h.l4_proto)
  SNIFFER_EXPECT_FIELD(tcp_flags, h.tcp_flags)
  SNIFFER_EXPECT_FIELD(ttl, h.ttl)
  SNIFFER_EXPECT_FIELD(vlan_count, h.vlan_count)
  SNIFFER_EXPECT_FIELD(ethertype, h.ethertype)
  SNIFFER_EXPECT_FIELD(vlan_outer, h.vlan_ids[0])
  SNIFFER_EXPECT_FIELD(vlan_inner, h.vlan_ids[1])
  SNIFFER_EXPECT_FIELD(sport, h.sport)
  SNIFFER_EXPECT_FIELD(dport, h.dport)
  SNIFFER_EXPECT_FIELD(tcp_window, h.tcp_window)
  SNIFFER_EXPECT_FIELD(l3_hdr_len, h.l3_hdr_len)
  SNIFFER_EXPECT_FIELD(l4_hdr_len, h.l4_hdr_len)
  SNIFFER_EXPECT_FIELD(ip_total_len, h.ip_total_len)
  SNIFFER_EXPECT_FIELD(frag_offset, h.frag_offset)
  SNIFFER_EXPECT_FIELD(frag_flags, h.frag_flags)
  SNIFFER_EXPECT_FIELD(icmp_type, h.icmp_type)
  SNIFFER_EXPECT_FIELD(icmp_code, h.icmp_code)
  SNIFFER_EXPECT_FIELD(parse_flags, h.parse_flags)
  SNIFFER_EXPECT_FIELD(frag_id, h.frag_id)
  SNIFFER_EXPECT_FIELD(payload_offset, h.payload_offset)
  SNIFFER_EXPECT_FIELD(snippet_len, h.snippet_len)
  SNIFFER_EXPECT_FIELD(tcp_seq, h.tcp_seq)
  SNIFFER_EXPECT_FIELD(tcp_ack, h.tcp_ack)
  SNIFFER_EXPECT_FIELD(block_rule_id, h.block_rule_id)
  SNIFFER_EXPECT_FIELD(verdict, h.verdict)
  SNIFFER_EXPECT_FIELD(mpls_count, h.mpls_count)
#undef SNIFFER_EXPECT_FIELD
  if (want.saddr) {
    EXPECT_EQ(address(h.saddr, h.ip_version), *want.saddr) << what << ": saddr";
  }
  if (want.daddr) {
    EXPECT_EQ(address(h.daddr, h.ip_version), *want.daddr) << what << ": daddr";
  }
  if (want.snippet) {
    EXPECT_EQ(std::string(got.snippet.begin(), got.snippet.end()), *want.snippet) << what;
  }
}

void ProgramsTest::SetUp() { SNIFFER_REQUIRE_ROOT(); }

void ProgramsTest::TearDown() {
  if (ring_) ring_buffer__free(ring_);
}

void ProgramsTest::load(LoadOptions options) {
  progs_ = std::make_unique<BpfPrograms>(options);
  payload_ = options.payload_bytes;
  ring_ = ring_buffer__new(progs_->events_map_fd(), &ProgramsTest::on_sample, this, nullptr);
  ASSERT_NE(ring_, nullptr);
}

void ProgramsTest::configure(Mode mode, Role role, std::uint8_t stats_slot, bool blocklist) {
  progs_->set_interface(kLoopback, mode, role, stats_slot, blocklist);
}

int ProgramsTest::on_sample(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<ProgramsTest*>(ctx);
  if (record_magic(data, size) == SNIFFER_FLOW_RECORD_MAGIC) {
    sniffer_flow_record flow{};
    DecodeStatus st = decode_flow_record(data, size, flow);
    EXPECT_EQ(st, DecodeStatus::Ok) << to_string(st);
    if (st == DecodeStatus::Ok) self->flow_records_.push_back(flow);
    return 0;
  }
  DecodedRecord rec;
  DecodeStatus st = decode_record(data, size, self->payload_, rec);
  EXPECT_EQ(st, DecodeStatus::Ok) << to_string(st);
  if (st == DecodeStatus::Ok) self->records_.push_back({rec.header, {rec.snippet.begin(), rec.snippet.end()}});
  return 0;
}

std::uint32_t ProgramsTest::run_unread(Hook hook, const Bytes& frame) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<__u32>(frame.size()));
  __sk_buff skb_ctx{};
  int fd = progs_->xdp_prog_fd();
  if (hook != Hook::Xdp) {
    opts.ctx_in = &skb_ctx;
    opts.ctx_size_in = sizeof(skb_ctx);
    fd = hook == Hook::TcIngress ? progs_->tc_ingress_prog_fd() : progs_->tc_egress_prog_fd();
  }
  int err = bpf_prog_test_run_opts(fd, &opts);
  EXPECT_EQ(err, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(errno);
  return opts.retval;
}

std::uint32_t ProgramsTest::run(Hook hook, const Bytes& frame) {
  records_.clear();
  flow_records_.clear();
  const std::uint32_t verdict = run_unread(hook, frame);
  ring_buffer__consume(ring_);
  return verdict;
}

std::vector<Captured> ProgramsTest::xdp(const Bytes& frame) {
  EXPECT_EQ(run(Hook::Xdp, frame), kXdpPass);
  return records_;
}

Captured ProgramsTest::one_xdp(const Bytes& frame) {
  auto recs = xdp(frame);
  EXPECT_EQ(recs.size(), 1u);
  return recs.empty() ? Captured{} : recs[0];
}

void ProgramsTest::check(const Row& row) {
  SCOPED_TRACE(row.description);
  const KernelStats before = progs_->read_stats();
  EXPECT_EQ(run(row.hook, row.frame), row.verdict);
  const KernelStats after = progs_->read_stats();
  if (row.record) {
    ASSERT_EQ(records_.size(), 1u);
    expect_record(records_[0], *row.record, row.description);
  } else {
    EXPECT_TRUE(records_.empty());
  }
  for (auto [counter, delta] : row.counters)
    EXPECT_EQ(after[counter] - before[counter], delta) << "counter " << counter;
}

void ProgramsTest::check(const std::vector<Row>& rows) {
  for (const Row& row : rows) check(row);
}

std::vector<sniffer_flow_state> ProgramsTest::flow_entries() const {
  std::vector<sniffer_flow_state> out;
  const int fd = progs_->flows_map_fd();
  sniffer_flow_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    sniffer_flow_value value{};
    if (bpf_map_lookup_elem(fd, &next, &value) == 0) out.push_back(value.state);
    key = next;
    prev = &key;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.flow_id < b.flow_id; });
  return out;
}

}  // namespace sniffer::test
