// due_reason_is_settled (include/sniffer/kernel_flows.hpp): with a
// close grace no longer than the idle timeout, a due flow's end reason is the
// same whenever it ends, which lets the kernel aggregation's offline sweep
// run late. Checked on the states real connections go through, at every
// time where a reason could change.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "sniffer/kernel_flows.hpp"

namespace {

constexpr __u64 kMs = 1'000'000, kSec = 1000 * kMs, kT0 = 1000 * kSec;
constexpr __u8 kSyn = SNIFFER_TCP_FLAG_SYN, kAck = SNIFFER_TCP_FLAG_ACK, kFin = SNIFFER_TCP_FLAG_FIN,
               kRst = SNIFFER_TCP_FLAG_RST;

struct Step {
  __u64 ts;
  __u8 flags;
  bool from_client;
};

sniffer_flow_params params(__u64 idle, __u64 grace) {
  sniffer_flow_params p{};
  p.idle_timeout_ns = idle;
  p.active_timeout_ns = 1800 * kSec;
  p.tcp_close_grace_ns = grace;
  p.activity_timeout_ns = 5 * kSec;
  p.subflow_gap_ns = 1 * kSec;
  p.bulk_gap_ns = 1 * kSec;
  return p;
}

// The state of a client->server TCP flow after each of its packets.
std::vector<sniffer_flow_state> states_of(const std::vector<Step>& steps, const sniffer_flow_params& prm) {
  std::vector<sniffer_flow_state> states;
  sniffer_flow_state s{};
  sniffer_flow_key key{};
  key.l4_proto = 6;
  for (const Step& step : steps) {
    sniffer_flow_packet p{};
    p.ts = step.ts;
    p.wire_len = 60;
    p.header_len = 40;
    p.has_tcp_header = 1;
    p.tcp_flags = step.flags;
    if (states.empty()) sniffer_flow_init(&s, &key, 1, 1, &p, 1, 0, 1, &prm);
    sniffer_flow_add(&s, &p, step.from_client ? 1 : 0, &prm);
    sniffer_flow_after_add(&s, &p, &prm);
    states.push_back(s);
  }
  return states;
}

// The connections: open, closed by FINs, by a RST, with a late ACK after the
// close, and with the closing FIN timestamped before the flow's last packet
// (a capture's clock stepping back).
std::vector<std::vector<Step>> connections() {
  const Step syn{kT0, kSyn, true}, syn_ack{kT0 + 1 * kMs, kSyn | kAck, false}, ack{kT0 + 2 * kMs, kAck, true};
  return {
      {syn, syn_ack, ack},
      {syn, syn_ack, ack, {kT0 + 3 * kMs, kFin | kAck, true}, {kT0 + 4 * kMs, kFin | kAck, false}},
      {syn, syn_ack, {kT0 + 3 * kMs, kRst, true}},
      {syn, syn_ack, {kT0 + 3 * kMs, kRst, false}, {kT0 + 1500 * kMs, kAck, true}},
      {syn, syn_ack, {kT0 + 9 * kSec, kAck, true}, {kT0 + 3 * kMs, kFin | kAck, true},
       {kT0 + 4 * kMs, kFin | kAck, false}},
  };
}

// The reasons the flow s ends for, over all times it is due: around each
// deadline (its close grace's, its idle timeout's) and long after.
std::set<int> reasons_once_due(const sniffer_flow_state& s, const sniffer_flow_params& prm) {
  const __u64 idle = sniffer_later(s.last_ts, prm.idle_timeout_ns);
  const __u64 close = sniffer_later(s.closing_since, prm.tcp_close_grace_ns);
  std::set<int> reasons;
  for (__u64 t : {idle - 1, idle, idle + 1, close - 1, close, close + 1, idle + close}) {
    if (int r = sniffer_flow_due_reason(&s, t, &prm)) reasons.insert(r);
  }
  return reasons;
}

// Every state of every connection ends for one reason only, whenever it ends.
int unsettled_states(const sniffer_flow_params& prm) {
  int unsettled = 0;
  for (const auto& steps : connections()) {
    for (const sniffer_flow_state& s : states_of(steps, prm)) {
      const std::set<int> reasons = reasons_once_due(s, prm);
      EXPECT_FALSE(reasons.empty());
      if (reasons.size() > 1) ++unsettled;
    }
  }
  return unsettled;
}

TEST(FlowDueReason, AGraceNoLongerThanTheIdleTimeoutSettlesTheReason) {
  for (const auto& prm : {params(120 * kSec, 2 * kSec), params(3 * kSec, 500 * kMs), params(2 * kSec, 2 * kSec),
                          params(1 * kSec, 0)}) {
    EXPECT_TRUE(sniffer::due_reason_is_settled(prm));
    EXPECT_EQ(unsettled_states(prm), 0) << prm.idle_timeout_ns << " " << prm.tcp_close_grace_ns;
  }
}

TEST(FlowDueReason, AGraceLongerThanTheIdleTimeoutDoesNot) {
  // Idle first, then closed by its FIN once the grace runs out: the reason
  // depends on when the flow ends.
  const sniffer_flow_params prm = params(1 * kSec, 5 * kSec);
  EXPECT_FALSE(sniffer::due_reason_is_settled(prm));
  EXPECT_GT(unsettled_states(prm), 0);
}

}  // namespace
