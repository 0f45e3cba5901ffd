#include "sniffer/metric_families.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace sniffer {

FamilyWriter::FamilyWriter(std::ostringstream& out, std::string_view name, MetricKind kind, std::string_view help)
    : out_(out), name_(name) {
  const char* type = kind == MetricKind::Counter ? "counter" : kind == MetricKind::Gauge ? "gauge" : "summary";
  out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

FamilyWriter& FamilyWriter::sample_text(const std::string& labels, const std::string& value, std::string_view suffix) {
  out_ << name_ << suffix;
  if (!labels.empty()) out_ << '{' << labels << '}';
  out_ << ' ' << value << '\n';
  return *this;
}

std::string label(std::string_view key, std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return std::string(key) + "=\"" + escaped + "\"";
}

namespace {

// ---- the userspace samples of each family (and the packets/bytes matrix) ----

template <bool kBytes>
void packet_matrix(FamilyWriter& f, const Report& r) {
  for (const auto& [name, s] : r.kernel.interfaces) {
    for (int h = 0; h < SNIFFER_NUM_HOOKS; ++h) {
      for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
        f.sample(label("interface", name) + "," + label("hook", kAbiHookNames[h]) + "," + label("class", kClassNames[c]),
                 s[kBytes ? SNIFFER_STAT_BYTES(h, c) : SNIFFER_STAT_PACKETS(h, c)]);
      }
    }
  }
}

const PublishCounters& stream(const std::optional<PublishCounters>& s) {
  static const PublishCounters none;
  return s ? *s : none;
}

std::string topic(const char* name) { return label("topic", name); }

void userspace_drops(FamilyWriter& f, const Report& r) {
  for (const auto& [reason, n] : r.ring.decode_errors) f.sample(label("stage", "decode") + "," + label("reason", reason), n);
  if (r.kernel.drops) {
    for (const auto& [why, n] : r.kernel.drops->unattributed) {
      f.sample(label("stage", "kernel_drops") + "," + label("reason", why), n);
    }
    if (r.pipeline.flows && !r.pipeline.flows->kernel_aggregation) {
      f.sample(label("stage", "kernel_drops") + "," + label("reason", "no_flow"), r.pipeline.flows->kernel_drops_no_flow);
    }
  }
  for (auto [name, s] : {std::pair{"pkt", &r.pipeline.events}, std::pair{"flow", &r.pipeline.flow_stream}}) {
    f.sample(label("stage", "publish") + "," + label("reason", "hwm") + "," + topic(name), stream(*s).items_dropped_hwm);
    f.sample(label("stage", "publish") + "," + label("reason", "no_subscriber") + "," + topic(name),
             stream(*s).items_unsubscribed);
  }
}

void kernel_drops(FamilyWriter& f, const Report& r) {
  if (!r.kernel.drops) return;
  for (const auto& [name, reasons] : r.kernel.drops->interfaces) {
    for (const auto& [reason, by_class] : reasons) {
      for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
        if (by_class[c] == 0) continue;  // the kernel counts only what it saw; so do the samples
        f.sample(label("interface", name) + "," + label("reason", reason) + "," + label("protocol", kClassNames[c]),
                 by_class[c]);
      }
    }
  }
}

void published(FamilyWriter& f, const Report& r) {
  f.sample(topic("pkt"), stream(r.pipeline.events).items_sent);
  f.sample(topic("flow"), stream(r.pipeline.flow_stream).items_sent);
}

void published_batches(FamilyWriter& f, const Report& r) {
  f.sample(topic("pkt"), stream(r.pipeline.events).batches_sent);
  f.sample(topic("flow"), stream(r.pipeline.flow_stream).batches_sent);
}

void batch_age(FamilyWriter& f, const Report& r) {
  for (auto [name, s] : {std::pair{"pkt", &r.pipeline.events}, std::pair{"flow", &r.pipeline.flow_stream}}) {
    // Seconds as the JSON report writes them; a stream that is off: 0.
    const std::string sum = *s ? nlohmann::json(static_cast<double>((*s)->batch_age_ns_sum) * 1e-9).dump() : "0";
    f.sample_text(topic(name), sum, "_sum");
    f.sample_text(topic(name), std::to_string(stream(*s).batches_sent), "_count");
  }
}

void auth(FamilyWriter& f, const Report& r) {
  if (!r.auth) return;
  for (const auto& [domain, c] : *r.auth) {
    f.sample(label("domain", domain) + "," + label("result", "accepted"), c.accepted);
    f.sample(label("domain", domain) + "," + label("result", "refused"), c.refused);
  }
}

// A figure of the flow table (0 with flows off).
template <std::uint64_t FlowCounters::*kField>
void flows_figure(FamilyWriter& f, const Report& r) {
  f.sample("", r.pipeline.flows ? r.pipeline.flows.value().*kField : 0);
}

void flows_ended(FamilyWriter& f, const Report& r) {
  if (!r.pipeline.flows) return;
  for (const auto& [reason, n] : r.pipeline.flows->ended_by_reason) f.sample(label("reason", reason), n);
}

// A figure of each worker (capture.workers).
template <std::uint64_t WorkerCounters::*kField>
void worker_figure(FamilyWriter& f, const Report& r) {
  for (std::size_t i = 0; i < r.workers.size(); ++i) f.sample(label("worker", std::to_string(i)), r.workers[i].*kField);
}

void link_changes(FamilyWriter& f, const Report& r) {
  if (!r.live) return;
  for (const auto& [name, l] : r.live->interface_events) {
    f.sample(label("interface", name) + "," + label("state", "down"), l.link_down);
    f.sample(label("interface", name) + "," + label("state", "up"), l.link_up);
  }
}

// A figure of each monitored interface.
template <auto kField>
void link_figure(FamilyWriter& f, const Report& r) {
  if (!r.live) return;
  for (const auto& [name, l] : r.live->interface_events) f.sample(label("interface", name), l.*kField);
}

void netlink_resyncs(FamilyWriter& f, const Report& r) { f.sample("", r.live ? r.live->netlink_resyncs : 0); }

template <std::uint64_t BlocklistCounters::*kField>
void blocklist_figure(FamilyWriter& f, const Report& r) {
  if (r.live) f.sample("", r.live->blocklist.*kField);
}

void blocklist_refused(FamilyWriter& f, const Report& r) {
  if (!r.live) return;
  for (const auto& [reason, n] : r.live->blocklist.refused) f.sample(label("reason", reason), n);
}

void control_commands(FamilyWriter& f, const Report& r) {
  if (!r.live) return;
  for (const auto& [command, by_status] : r.live->blocklist.control) {
    for (const auto& [status, n] : by_status) f.sample(label("command", command) + "," + label("status", status), n);
  }
}

template <std::uint64_t CaptureCounters::*kField>
void capture_figure(FamilyWriter& f, const Report& r) {
  if (r.live) f.sample("", r.live->captures.*kField);
}

void capture_packets(FamilyWriter& f, const Report& r) {
  if (!r.live) return;
  const CaptureCounters& c = r.live->captures;
  f.sample(label("result", "written"), c.written);
  f.sample(label("result", "ring_full"), c.ring_full);
  f.sample(label("result", "not_written"), c.not_written);
}

constexpr auto kCounter = MetricKind::Counter;
constexpr auto kGauge = MetricKind::Gauge;

constexpr MetricFamily kFamilies[] = {
    {"sniffer_packets_total", kCounter, "Packets seen by the BPF programs, by interface, hook and protocol class.",
     packet_matrix<false>},
    {"sniffer_bytes_total", kCounter, "Frame bytes seen, by interface, hook and protocol class.", packet_matrix<true>},
    {"sniffer_records_total", kCounter, "Records the BPF programs put in the ring buffer.", nullptr},
    {"sniffer_parse_errors_total", kCounter, "Truncated or malformed packets (still recorded and passed).", nullptr},
    {"sniffer_split_l4_fragments_total", kCounter,
     "Fragments splitting the transport header (RFC 1858 tiny or overlapping; parse flag 0x80).", nullptr},
    {"sniffer_dropped_total", kCounter,
     "Records or items lost or withheld, by stage and reason (sent = delivered + these).", userspace_drops},
    {"sniffer_ring_buffer_fill_bytes", kGauge, "Bytes queued in the ring buffer when last measured.", nullptr},
    {"sniffer_ring_buffer_size_bytes", kGauge, "Size of the ring buffer.",
     [](FamilyWriter& f, const Report& r) { f.sample("", r.kernel.ring_size_bytes.value_or(0)); }},
    {"sniffer_records_received_total", kCounter, "Records the daemon read from the ring buffer.",
     [](FamilyWriter& f, const Report& r) { f.sample("", r.ring.records_received); }},
    {"sniffer_worker_records_received_total", kCounter,
     "Records of every kind each worker read from its ring (capture.workers).",
     worker_figure<&WorkerCounters::records_received>},
    {"sniffer_worker_flows_active", kGauge, "Flows in each worker's shard of the flow table.",
     worker_figure<&WorkerCounters::flows_active>},
    {"sniffer_published_total", kCounter, "Items handed to ZeroMQ, by topic.", published},
    {"sniffer_published_batches_total", kCounter, "Batches handed to ZeroMQ, by topic.", published_batches},
    {"sniffer_publish_batch_age_seconds", MetricKind::Summary,
     "Age of a batch's first item when the batch is sent (publish latency).", batch_age},
    {"sniffer_publish_connection_cuts_total", kCounter,
     "Times every publish connection was cut because subscribers held more than 1,024 distinct subscriptions "
     "(abuse: each is kept in memory until its peer leaves); subscribers reconnect.",
     [](FamilyWriter& f, const Report& r) { f.sample("", r.publish_connection_cuts); }},
    {"sniffer_connections_refused_total", kCounter,
     "Connections closed as they were accepted (publish, control, metrics): their descriptor would have left "
     "fewer than 64 (at most an eighth of the limit) free below RLIMIT_NOFILE (a connection flood).",
     [](FamilyWriter& f, const Report& r) { f.sample("", r.connections_refused); }},
    {"sniffer_endpoint_unbound", kGauge,
     "1 while the sensor runs without this endpoint (by config key): held by another process or its address not "
     "the host's; tried again every 5 s, the reason in the log and the report's userspace.endpoints. 0 once bound.",
     [](FamilyWriter& f, const Report& r) {
       for (const auto& [key, refused] : r.endpoints) f.sample(label("endpoint", key), refused.empty() ? 0 : 1);
     }},
    {"sniffer_auth_total", kCounter,
     "CURVE handshakes judged by the ZAP handler, by socket domain and result (accepted, refused).", auth},
    {"sniffer_kernel_flow_packets_total", kCounter,
     "Kernel flow aggregation: packets added to a flow in the kernel's map.", nullptr},
    {"sniffer_kernel_flow_skipped_total", kCounter,
     "Kernel flow aggregation: packets that are not flow material (no IP header read, or a forwarded packet at TC "
     "egress).",
     nullptr},
    {"sniffer_kernel_flow_records_total", kCounter,
     "Kernel flow aggregation: flow records the programs put in the ring buffer.", nullptr},
    {"sniffer_kernel_flow_update_failures_total", kCounter,
     "Kernel flow aggregation: new flows the full map could not take (each left as a one-packet record, end reason "
     "TABLE_FULL).",
     nullptr},
    {"sniffer_flows_active", kGauge,
     "Flows in the flow table (kernel aggregation: in the kernel's map at the last sweep).",
     flows_figure<&FlowCounters::active>},
    {"sniffer_flows_capacity", kGauge, "Flow table limit (flows.max_flows).", flows_figure<&FlowCounters::capacity>},
    {"sniffer_flows_created_total", kCounter, "Flows created.", flows_figure<&FlowCounters::created>},
    {"sniffer_flows_evicted_total", kCounter, "Flows ended early because the table was full.",
     flows_figure<&FlowCounters::evicted>},
    {"sniffer_kernel_flow_sweep_failures_total", kCounter,
     "Kernel flow aggregation: map reads or removals of the daemon's sweep that failed (the flow stays).",
     flows_figure<&FlowCounters::sweep_failures>},
    {"sniffer_flow_updates_total", kCounter, "Active-timeout updates exported.", flows_figure<&FlowCounters::updates>},
    {"sniffer_flows_ended_total", kCounter, "Flows ended, by reason.", flows_ended},
    {"sniffer_interface_link_changes_total", kCounter,
     "Link state changes of a monitored interface, by new state (its hooks stay attached).", link_changes},
    {"sniffer_interface_lost_total", kCounter,
     "Times a monitored interface disappeared (deleted or renamed away): its hooks were gone.",
     link_figure<&LinkCounters::lost>},
    {"sniffer_interface_reattached_total", kCounter,
     "Times a lost interface came back and got its configured hooks again.", link_figure<&LinkCounters::reattached>},
    {"sniffer_interface_reattach_errors_total", kCounter,
     "Times re-attaching a returning interface failed (see the log; SIGHUP retries).",
     link_figure<&LinkCounters::reattach_errors>},
    {"sniffer_interface_hooks_detached_total", kCounter,
     "Hooks of the interface found removed by someone else (bpftool link detach, tc qdisc del) and attached "
     "again (checked every second).",
     link_figure<&LinkCounters::hooks_detached>},
    {"sniffer_interface_hooks_missing", kGauge,
     "Configured hooks not attached on the present interface: failed at the last try (reload, start or its "
     "return; the log says why; retried after 1, 2, 4 ... 30 s and at SIGHUP), or removed by someone else again "
     "and waiting for their re-attach. An XDP hook kept in its previous mode is attached: not counted.",
     link_figure<&LinkCounters::hooks_missing>},
    {"sniffer_interface_present", kGauge,
     "1 while the monitored interface exists (hooks attached), 0 while it is absent.",
     link_figure<&LinkCounters::present>},
    {"sniffer_interface_up", kGauge, "1 while the monitored interface is up and running.",
     link_figure<&LinkCounters::up>},
    {"sniffer_netlink_resyncs_total", kCounter,
     "Re-syncs of every monitored interface after link events were lost (netlink socket overrun).", netlink_resyncs},
    {"sniffer_blocklist_packets_total", kCounter,
     "Packets the blocklist acted on, by interface and result (dropped, monitored: a count-only match that passed, "
     "allowed: an allowlist match).",
     nullptr},
    {"sniffer_blocklist_entries", kGauge, "Blocklist entries (static and from the control socket).",
     blocklist_figure<&BlocklistCounters::entries>},
    {"sniffer_blocklist_capacity", kGauge, "Entries each blocklist trie holds (blocklist.max_entries).",
     blocklist_figure<&BlocklistCounters::capacity>},
    {"sniffer_blocklist_expired_total", kCounter, "Blocklist entries removed at their expiry.",
     blocklist_figure<&BlocklistCounters::expired>},
    {"sniffer_blocklist_exemptions", kGauge,
     "The sensor's own addresses (per direction) inside blocklist entries, exempted from them: the entries still "
     "apply to every other address (an address gained without the operator: DHCP, a router advertisement).",
     blocklist_figure<&BlocklistCounters::exemptions>},
    {"sniffer_blocklist_state_write_failures_total", kCounter,
     "Failed writes of blocklist.state_file (a full disk): the blocks added since are applied but not kept across "
     "a restart until a write succeeds (retried every second).",
     blocklist_figure<&BlocklistCounters::state_write_failures>},
    {"sniffer_blocklist_state_unsaved", kGauge,
     "1 while blocklist.state_file lags the blocklist (its last write failed), else 0.",
     blocklist_figure<&BlocklistCounters::state_unsaved>},
    {"sniffer_blocklist_refused_total", kCounter,
     "Blocks refused before reaching the kernel, by reason (min_prefix, sensor_address, control_client, "
     "control_endpoint, protected, allowlist): control commands and static entries.",
     blocklist_refused},
    {"sniffer_kernel_drops_total", kCounter,
     "Packets the kernel dropped on a monitored interface (skb:kfree_skb), by interface, drop reason (the kernel's "
     "name, or ignored: drops.reasons_ignored) and protocol class.",
     kernel_drops},
    {"sniffer_control_commands_total", kCounter,
     "Control socket commands, by command and reply status (ok, invalid, full, not_found, refused, rate_limited, "
     "error).",
     control_commands},
    {"sniffer_captures_running", kGauge, "Full-packet captures running (`sniffer capture`).",
     capture_figure<&CaptureCounters::running>},
    {"sniffer_captures_started_total", kCounter, "Full-packet captures started.",
     capture_figure<&CaptureCounters::started>},
    {"sniffer_captures_failed_total", kCounter,
     "Full-packet captures stopped by an error writing their file (a full disk): no file is left.",
     capture_figure<&CaptureCounters::failed>},
    {"sniffer_captures_out_of_room_total", kCounter,
     "Full-packet captures stopped early, their file kept, as less than capture.keep_free_bytes was free.",
     capture_figure<&CaptureCounters::out_of_room>},
    {"sniffer_capture_packets_total", kCounter,
     "Packets full-packet captures matched, by result (written to the file; ring_full: lost, the captures ring "
     "was full; not_written: read past the capture's packet limit, or after it stopped for room).",
     capture_packets},
};

// Every kernel counter's family is listed, with the counter's kind: a
// counter added to SNIFFER_STATS under a new family must add it here.
constexpr bool families_listed() {
  for (const KernelCounterDef& def : kKernelCounters) {
    const auto* f = std::find_if(std::begin(kFamilies), std::end(kFamilies),
                                 [&](const MetricFamily& m) { return m.name == def.family; });
    if (f == std::end(kFamilies) || f->kind != def.kind) return false;
  }
  return true;
}
static_assert(families_listed(), "a SNIFFER_STATS row names a family missing from kFamilies, or of another kind");

}  // namespace

std::span<const MetricFamily> metric_families() { return kFamilies; }

}  // namespace sniffer
