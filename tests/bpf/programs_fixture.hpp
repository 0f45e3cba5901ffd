// The bpf tier's shared fixture: loads the real programs (BpfPrograms) into
// this kernel, runs frames through BPF_PROG_TEST_RUN, and reads back what
// they produced: the verdict, the records in the ring (packet and flow
// records), the counters and the kernel flow map. Tests are tables of Rows
// {description, frame, verdict, record fields, counter deltas} run by check().
// Needs root (CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON).
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "frame.hpp"
#include "sniffer/abi.h"
#include "sniffer/bpf_loader.hpp"

namespace sniffer::test {

constexpr std::uint32_t kLoopback = 1;  // PROG_TEST_RUN frames arrive on this netns's lo
constexpr std::uint32_t kXdpDrop = 1;
constexpr std::uint32_t kXdpPass = 2;
constexpr std::uint32_t kTcShot = 2;
constexpr std::uint32_t kTcContinue = 0xffffffffu;  // TC_ACT_UNSPEC (-1)

enum class Hook { Xdp, TcIngress, TcEgress };

struct Captured {
  sniffer_record header;
  std::vector<std::uint8_t> snippet;
};

// The fields of a packet record a row expects; each one given is compared,
// the others are not. In the order of struct sniffer_record.
struct RecordFields {
  std::optional<std::uint64_t> record_len, ifindex, wire_len, hook, mode, is_wan_facing, ip_version, l4_proto,
      tcp_flags, ttl, vlan_count, ethertype, vlan_outer, vlan_inner, sport, dport, tcp_window, l3_hdr_len,
      l4_hdr_len, ip_total_len, frag_offset, frag_flags, icmp_type, icmp_code, parse_flags;
  std::optional<std::string> saddr, daddr;  // as text
  std::optional<std::uint64_t> frag_id, payload_offset, snippet_len, tcp_seq, tcp_ack, block_rule_id, verdict,
      mpls_count;
  std::optional<std::string> snippet;
};

// Expected changes of counters (SNIFFER_STAT_* indices, totals over every
// slot) across one row; counters not listed are not compared.
using CounterDeltas = std::vector<std::pair<int, std::uint64_t>>;

struct Row {
  std::string description;
  Bytes frame;
  std::uint32_t verdict = kXdpPass;    // the program's return value
  std::optional<RecordFields> record;  // the one packet record expected; none when absent
  CounterDeltas counters;
  Hook hook = Hook::Xdp;
};

// The address in a record or flow key, as text (IPv4 in the first 4 bytes).
std::string address(const std::uint8_t* bytes, int ip_version);

// Compares the fields `want` gives with the record; `what` names the row.
void expect_record(const Captured& got, const RecordFields& want, const std::string& what);

class ProgramsTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  void load(LoadOptions options = {});
  // Configures the loopback device (where test frames arrive) for the programs.
  void configure(Mode mode = Mode::Gateway, Role role = Role::Wan, std::uint8_t stats_slot = 1,
                 bool blocklist = false);

  // Runs one program on `frame` (no check of the verdict) and collects the
  // records it sent: packet records in records_, flow records in flow_records_.
  std::uint32_t run(Hook hook, const Bytes& frame);
  // Runs one program, leaving what it sent in the ring.
  std::uint32_t run_unread(Hook hook, const Bytes& frame);
  // Runs the XDP program, expects it to pass, returns the packet records.
  std::vector<Captured> xdp(const Bytes& frame);
  // As xdp(), expecting exactly one record.
  Captured one_xdp(const Bytes& frame);

  // Runs each row: the verdict, the one record or none, the counter deltas.
  void check(const Row& row);
  void check(const std::vector<Row>& rows);

  std::uint64_t stat(int idx) const { return progs_->read_stats()[idx]; }
  // Every entry of the kernel flow map, ordered by flow id.
  std::vector<sniffer_flow_state> flow_entries() const;

  std::unique_ptr<BpfPrograms> progs_;
  ring_buffer* ring_ = nullptr;
  std::uint32_t payload_ = 0;
  std::vector<Captured> records_;
  std::vector<sniffer_flow_record> flow_records_;

 private:
  static int on_sample(void* ctx, void* data, std::size_t size);
};

}  // namespace sniffer::test
