#include "sniffer/report.hpp"

#include <nlohmann/json.hpp>

namespace sniffer {

namespace {

using json = nlohmann::json;

// One block of kernel counters; the total has the counters of no interface too.
json kernel_block_json(const KernelStats& s, bool total) {
  json packets, bytes;
  for (int h = 0; h < SNIFFER_NUM_HOOKS; ++h) {
    for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) {
      packets[kAbiHookNames[h]][kClassNames[c]] = s[SNIFFER_STAT_PACKETS(h, c)];
      bytes[kAbiHookNames[h]][kClassNames[c]] = s[SNIFFER_STAT_BYTES(h, c)];
    }
  }
  json j{{"packets", packets}, {"bytes", bytes}};
  for (const KernelCounterDef& def : kKernelCounters) {
    if (total || def.per_interface()) j[std::string(def.key)] = s[def.index];
  }
  return j;
}

json object_of(const NamedCounts& counts) {
  json j = json::object();
  for (const auto& [name, n] : counts) j[name] = n;
  return j;
}

json stream_json(const PublishCounters& c) {
  return {{"published", c.items_sent},
          {"batches_published", c.batches_sent},
          {"unsubscribed", c.items_unsubscribed},
          {"batches_unsubscribed", c.batches_unsubscribed},
          {"dropped_hwm", c.items_dropped_hwm},
          {"batches_dropped_hwm", c.batches_dropped_hwm}};
}

json flows_json(const FlowCounters& c) {
  json j{{"packets", c.packets}, {"created", c.created},   {"ended", c.ended},
         {"updates", c.updates}, {"evicted", c.evicted},   {"active", c.active},
         {"capacity", c.capacity}, {"ended_by_reason", object_of(c.ended_by_reason)}};
  j.update({{"kernel_drops", c.kernel_drops}, {"kernel_drops_no_flow", c.kernel_drops_no_flow}});
  if (c.kernel_aggregation) {
    j.update({{"aggregation", "kernel"},
              {"records", c.records},
              {"table_full", c.table_full},
              {"swept", c.swept},
              {"sweeps", c.sweeps},
              {"sweep_failures", c.sweep_failures}});
  }
  return j;
}

json pipeline_json(const PipelineCounters& p) {
  json j{{"records_processed", p.records_processed},
         {"unknown_ifindex", p.unknown_ifindex},
         {"not_ip", p.not_ip},
         {"egress_forwarded", p.egress_forwarded}};
  json latency = json::object();
  auto add_latency = [&latency](const char* topic, const PublishCounters& c) {
    latency[topic] = {{"sum_seconds", static_cast<double>(c.batch_age_ns_sum) * 1e-9}, {"count", c.batches_sent}};
  };
  if (p.events) {
    const PublishCounters& e = *p.events;
    j.update({{"events_published", e.items_sent},
              {"events_unsubscribed", e.items_unsubscribed},
              {"events_dropped_hwm", e.items_dropped_hwm},
              {"batches_published", e.batches_sent},
              {"batches_unsubscribed", e.batches_unsubscribed},
              {"batches_dropped_hwm", e.batches_dropped_hwm}});
    add_latency("pkt", e);
  }
  if (p.flow_stream) add_latency("flow", *p.flow_stream);
  j["publish_latency"] = latency;
  if (p.flows) {
    j["flows"] = flows_json(*p.flows);
    if (p.flow_stream) j["flows"]["publish"] = stream_json(*p.flow_stream);
  }
  return j;
}

json links_json(const std::map<std::string, LinkCounters>& links) {
  json j = json::object();
  for (const auto& [name, l] : links) {
    j[name] = {{"present", l.present},       {"up", l.up},
               {"ifindex", l.ifindex},       {"link_down", l.link_down},
               {"link_up", l.link_up},       {"lost", l.lost},
               {"reattached", l.reattached}, {"reattach_errors", l.reattach_errors},
               {"hooks_missing", l.hooks_missing}, {"hooks_detached", l.hooks_detached}};
  }
  return j;
}

json blocklist_json(const BlocklistCounters& b) {
  json control = json::object();
  for (const auto& [command, by_status] : b.control) control[command] = object_of(by_status);
  return {{"entries", b.entries}, {"capacity", b.capacity},
          {"expired", b.expired}, {"revoked", b.revoked}, {"exemptions", b.exemptions},
          {"state_write_failures", b.state_write_failures}, {"state_unsaved", b.state_unsaved},
          {"refused", object_of(b.refused)}, {"allowlist_hits", b.allowlist_hits},
          {"control", control}};
}

// {"interfaces": {name: {reason: {class: n}}}, "unattributed": {why: n}}
json drops_json(const KernelDropCounters& d) {
  json per = json::object();
  for (const auto& [name, reasons] : d.interfaces) {
    for (const auto& [reason, by_class] : reasons) {
      for (int c = 0; c < SNIFFER_NUM_CLASSES; ++c) per[name][reason][kClassNames[c]] = by_class[c];
    }
  }
  return {{"interfaces", per}, {"unattributed", object_of(d.unattributed)}};
}

}  // namespace

json to_json(const KernelReport& kernel) {
  json j = kernel_block_json(kernel.total, true);
  json per = json::object();
  for (const auto& [name, stats] : kernel.interfaces) per[name] = kernel_block_json(stats, false);
  j["interfaces"] = per;
  if (kernel.ring_size_bytes) j["ring_size_bytes"] = *kernel.ring_size_bytes;
  if (kernel.drops) j["drops"] = drops_json(*kernel.drops);
  return j;
}

json Report::to_json() const {
  json user{{"records_received", ring.records_received},
            {"flow_records_received", ring.flow_records_received},
            {"drop_records_received", ring.drop_records_received},
            {"decode_errors", object_of(ring.decode_errors)}};
  user.update(pipeline_json(pipeline));
  json per_worker = json::array();
  for (const WorkerCounters& w : workers) {
    per_worker.push_back({{"records_received", w.records_received},
                          {"records_processed", w.records_processed},
                          {"flows_active", w.flows_active}});
  }
  user["workers"] = per_worker;
  user["publish_connection_cuts"] = publish_connection_cuts;
  user["connections_refused"] = connections_refused;
  nlohmann::json by_key = nlohmann::json::object();
  for (const auto& [key, refused] : endpoints) {
    by_key[key] = refused.empty() ? nlohmann::json{{"bound", true}} : nlohmann::json{{"bound", false}, {"refused", refused}};
  }
  user["endpoints"] = by_key;
  if (auth) {
    json by_domain = json::object();
    for (const auto& [domain, c] : *auth) by_domain[domain] = {{"accepted", c.accepted}, {"refused", c.refused}};
    user["auth"] = by_domain;
  }
  if (live) {
    user["interface_events"] = links_json(live->interface_events);
    user["netlink_resyncs"] = live->netlink_resyncs;
    user["blocklist"] = blocklist_json(live->blocklist);
    const CaptureCounters& c = live->captures;
    user["captures"] = {{"running", c.running},     {"started", c.started},
                        {"written", c.written},     {"ring_full", c.ring_full},
                        {"not_written", c.not_written}, {"failed", c.failed},
                        {"out_of_room", c.out_of_room}};
  }
  return {{"kernel", sniffer::to_json(kernel)}, {"userspace", user}};
}

}  // namespace sniffer
