#include "sniffer/metrics.hpp"

#include <map>
#include <sstream>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "sniffer/error.hpp"

namespace sniffer {

namespace {

using json = nlohmann::json;

// Accumulates one metric family: HELP and TYPE once, then its samples.
class Family {
 public:
  Family(std::ostringstream& out, const std::string& name, const char* type, const char* help)
      : out_(out), name_(name) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  Family& sample(const std::string& labels, const json& value) {
    out_ << name_;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << (value.is_number() ? value.dump() : "0") << '\n';
    return *this;
  }

 private:
  std::ostringstream& out_;
  std::string name_;
};

std::string label(const char* key, const std::string& value) {
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

const json& at(const json& j, const char* key) {
  static const json zero = 0;
  return j.is_object() && j.contains(key) ? j.at(key) : zero;
}

// A map-valued key, to iterate: empty when missing (items() of at()'s 0
// would yield one item named "").
const json& children(const json& j, const char* key) {
  static const json none = json::object();
  const json& v = at(j, key);
  return v.is_object() ? v : none;
}

}  // namespace

std::string prometheus_text(const json& report) {
  std::ostringstream out;
  const json& kernel = at(report, "kernel");
  const json& user = at(report, "userspace");
  const json& ifaces = children(kernel, "interfaces");

  // {"packets"|"bytes": {hook: {class: n}}} of each interface.
  for (auto [key, metric, help] :
       {std::tuple{"packets", "sniffer_packets_total", "Packets seen by the BPF programs, by interface, hook and protocol class."},
        std::tuple{"bytes", "sniffer_bytes_total", "Frame bytes seen, by interface, hook and protocol class."}}) {
    Family family(out, metric, "counter", help);
    for (const auto& [name, s] : ifaces.items()) {
      for (const auto& [hook, classes] : children(s, key).items()) {
        for (const auto& [cls, n] : classes.items()) {
          family.sample(label("interface", name) + "," + label("hook", hook) + "," + label("class", cls), n);
        }
      }
    }
  }
  {
    Family records(out, "sniffer_records_total", "counter", "Records the BPF programs put in the ring buffer.");
    for (const auto& [name, s] : ifaces.items()) records.sample(label("interface", name), at(s, "records"));
  }
  {
    Family parse(out, "sniffer_parse_errors_total", "counter",
                 "Truncated or malformed packets (still recorded and passed).");
    for (const auto& [name, s] : ifaces.items()) parse.sample(label("interface", name), at(s, "parse_errors"));
  }
  {
    Family drops(out, "sniffer_dropped_total", "counter",
                 "Records or items lost or withheld, by stage and reason (sent = delivered + these).");
    for (const auto& [name, s] : ifaces.items()) {
      drops.sample(label("stage", "kernel") + "," + label("reason", "ring_full") + "," + label("interface", name),
                   at(s, "ringbuf_full"));
      drops.sample(label("stage", "kernel") + "," + label("reason", "filtered") + "," + label("interface", name),
                   at(s, "filtered"));
      drops.sample(label("stage", "kernel") + "," + label("reason", "blocked_unrecorded") + "," +
                       label("interface", name),
                   at(s, "blocked_unrecorded"));
      // Kernel flow aggregation: packets aggregated without a packet record
      // (sampling), and flow records the full ring refused.
      drops.sample(label("stage", "kernel") + "," + label("reason", "sampled_out") + "," + label("interface", name),
                   at(s, "sampled_out"));
      drops.sample(label("stage", "kernel") + "," + label("reason", "flow_ring_full") + "," +
                       label("interface", name),
                   at(s, "flow_ringbuf_full"));
    }
    drops.sample(label("stage", "kernel") + "," + label("reason", "unconfigured_interface"), at(kernel, "unconfigured"));
    for (const auto& [reason, n] : children(user, "decode_errors").items()) {
      drops.sample(label("stage", "decode") + "," + label("reason", reason), n);
    }
    drops.sample(label("stage", "publish") + "," + label("reason", "hwm") + "," + label("topic", "pkt"),
                 at(user, "events_dropped_hwm"));
    drops.sample(label("stage", "publish") + "," + label("reason", "no_subscriber") + "," + label("topic", "pkt"),
                 at(user, "events_unsubscribed"));
    const json& fp = at(at(user, "flows"), "publish");
    drops.sample(label("stage", "publish") + "," + label("reason", "hwm") + "," + label("topic", "flow"),
                 at(fp, "dropped_hwm"));
    drops.sample(label("stage", "publish") + "," + label("reason", "no_subscriber") + "," + label("topic", "flow"),
                 at(fp, "unsubscribed"));
  }
  Family(out, "sniffer_ring_buffer_fill_bytes", "gauge", "Bytes queued in the ring buffer when last measured.")
      .sample("", at(kernel, "ring_fill_bytes"));
  Family(out, "sniffer_ring_buffer_size_bytes", "gauge", "Size of the ring buffer.")
      .sample("", at(kernel, "ring_size_bytes"));
  Family(out, "sniffer_records_received_total", "counter", "Records the daemon read from the ring buffer.")
      .sample("", at(user, "records_received"));
  {
    Family published(out, "sniffer_published_total", "counter", "Items handed to ZeroMQ, by topic.");
    published.sample(label("topic", "pkt"), at(user, "events_published"));
    published.sample(label("topic", "flow"), at(at(at(user, "flows"), "publish"), "published"));
  }
  {
    Family batches(out, "sniffer_published_batches_total", "counter", "Batches handed to ZeroMQ, by topic.");
    batches.sample(label("topic", "pkt"), at(user, "batches_published"));
    batches.sample(label("topic", "flow"), at(at(at(user, "flows"), "publish"), "batches_published"));
  }
  {
    Family latency(out, "sniffer_publish_batch_age_seconds", "summary",
                   "Age of a batch's first item when the batch is sent (publish latency).");
    for (const char* topic : {"pkt", "flow"}) {
      const json& l = at(at(user, "publish_latency"), topic);
      out << "sniffer_publish_batch_age_seconds_sum{" << label("topic", topic) << "} " << at(l, "sum_seconds").dump()
          << "\nsniffer_publish_batch_age_seconds_count{" << label("topic", topic) << "} " << at(l, "count").dump()
          << '\n';
    }
  }
  {
    // {"auth": {domain: {"accepted": n, "refused": n}}}: only with CURVE on.
    Family auth(out, "sniffer_auth_total", "counter",
                "CURVE handshakes judged by the ZAP handler, by socket domain and result (accepted, refused).");
    for (const auto& [domain, c] : children(user, "auth").items()) {
      for (const char* result : {"accepted", "refused"}) {
        auth.sample(label("domain", domain) + "," + label("result", result), at(c, result));
      }
    }
  }
  {
    Family packets(out, "sniffer_kernel_flow_packets_total", "counter",
                   "Kernel flow aggregation: packets added to a flow in the kernel's map.");
    Family records(out, "sniffer_kernel_flow_records_total", "counter",
                   "Kernel flow aggregation: flow records the programs put in the ring buffer.");
    Family failed(out, "sniffer_kernel_flow_update_failures_total", "counter",
                  "Kernel flow aggregation: new flows the full map could not take (each left as a one-packet "
                  "record, end reason TABLE_FULL).");
    for (const auto& [name, s] : ifaces.items()) {
      packets.sample(label("interface", name), at(s, "flow_packets"));
      records.sample(label("interface", name), at(s, "flow_records"));
      failed.sample(label("interface", name) + "," + label("reason", "map_full"), at(s, "flow_map_full"));
    }
  }
  const json& flows = at(user, "flows");
  Family(out, "sniffer_flows_active", "gauge",
         "Flows in the flow table (kernel aggregation: in the kernel's map at the last sweep).")
      .sample("", at(flows, "active"));
  Family(out, "sniffer_flows_capacity", "gauge", "Flow table limit (flows.max_flows).").sample("", at(flows, "capacity"));
  Family(out, "sniffer_flows_created_total", "counter", "Flows created.").sample("", at(flows, "created"));
  Family(out, "sniffer_flows_evicted_total", "counter", "Flows ended early because the table was full.")
      .sample("", at(flows, "evicted"));
  Family(out, "sniffer_kernel_flow_sweep_failures_total", "counter",
         "Kernel flow aggregation: map reads or removals of the daemon's sweep that failed (the flow stays).")
      .sample("", at(flows, "sweep_failures"));
  Family(out, "sniffer_flow_updates_total", "counter", "Active-timeout updates exported.").sample("", at(flows, "updates"));
  {
    Family ended(out, "sniffer_flows_ended_total", "counter", "Flows ended, by reason.");
    for (const auto& [reason, n] : children(flows, "ended_by_reason").items()) ended.sample(label("reason", reason), n);
  }
  {
    // {"interface_events": {name: {"present", "up", "link_down", "link_up", "lost", "reattached", ...}}}
    const json& links = children(user, "interface_events");
    Family changes(out, "sniffer_interface_link_changes_total", "counter",
                   "Link state changes of a monitored interface, by new state (its hooks stay attached).");
    for (const auto& [name, l] : links.items()) {
      changes.sample(label("interface", name) + "," + label("state", "down"), at(l, "link_down"));
      changes.sample(label("interface", name) + "," + label("state", "up"), at(l, "link_up"));
    }
    for (auto [key, metric, type, help] :
         {std::tuple{"lost", "sniffer_interface_lost_total", "counter",
                     "Times a monitored interface disappeared (deleted or renamed away): its hooks were gone."},
          std::tuple{"reattached", "sniffer_interface_reattached_total", "counter",
                     "Times a lost interface came back and got its configured hooks again."},
          std::tuple{"reattach_errors", "sniffer_interface_reattach_errors_total", "counter",
                     "Times re-attaching a returning interface failed (see the log; SIGHUP retries)."},
          std::tuple{"present", "sniffer_interface_present", "gauge",
                     "1 while the monitored interface exists (hooks attached), 0 while it is absent."},
          std::tuple{"up", "sniffer_interface_up", "gauge", "1 while the monitored interface is up and running."}}) {
      Family family(out, metric, type, help);
      for (const auto& [name, l] : links.items()) {
        const json& v = at(l, key);
        family.sample(label("interface", name), v.is_boolean() ? json(v.get<bool>() ? 1 : 0) : v);
      }
    }
    Family(out, "sniffer_netlink_resyncs_total", "counter",
           "Re-syncs of every monitored interface after link events were lost (netlink socket overrun).")
        .sample("", at(user, "netlink_resyncs"));
  }
  if (user.contains("blocklist")) {
    Family packets(out, "sniffer_blocklist_packets_total", "counter",
                   "Packets the blocklist acted on, by interface and result (dropped, monitored: a count-only "
                   "match that passed, allowed: an allowlist match).");
    for (const auto& [name, s] : ifaces.items()) {
      packets.sample(label("interface", name) + "," + label("result", "dropped"), at(s, "blocked"));
      packets.sample(label("interface", name) + "," + label("result", "monitored"), at(s, "block_monitored"));
      packets.sample(label("interface", name) + "," + label("result", "allowed"), at(s, "allowed"));
    }
    const json& bl = at(user, "blocklist");
    Family(out, "sniffer_blocklist_entries", "gauge", "Blocklist entries (static and from the control socket).")
        .sample("", at(bl, "entries"));
    Family(out, "sniffer_blocklist_capacity", "gauge", "Entries each blocklist trie holds (blocklist.max_entries).")
        .sample("", at(bl, "capacity"));
    Family(out, "sniffer_blocklist_expired_total", "counter", "Blocklist entries removed at their expiry.")
        .sample("", at(bl, "expired"));
    {
      Family refused(out, "sniffer_blocklist_refused_total", "counter",
                     "Blocks refused before reaching the kernel, by reason (min_prefix, sensor_address, "
                     "control_client, control_endpoint, protected, allowlist): control commands and static entries.");
      for (const auto& [reason, n] : children(bl, "refused").items()) refused.sample(label("reason", reason), n);
    }
    Family commands(out, "sniffer_control_commands_total", "counter",
                    "Control socket commands, by command and reply status (ok, invalid, full, not_found, refused, "
                    "rate_limited, error).");
    if (at(bl, "control").is_object()) {
      for (const auto& [command, by_status] : children(bl, "control").items()) {
        for (const auto& [status, n] : by_status.items()) {
          commands.sample(label("command", command) + "," + label("status", status), n);
        }
      }
    }
  }
  return out.str();
}

std::string summary_line(const json& report) {
  const json& k = at(report, "kernel");
  const json& u = at(report, "userspace");
  const json& f = at(u, "flows");
  std::ostringstream out;
  out << "stats: records " << at(k, "records").dump() << ", ring_full " << at(k, "ringbuf_full").dump()
      << ", filtered " << at(k, "filtered").dump() << ", parse_errors " << at(k, "parse_errors").dump()
      << ", ring_fill " << at(k, "ring_fill_bytes").dump() << " B; events published "
      << at(u, "events_published").dump() << " (hwm drops " << at(u, "events_dropped_hwm").dump()
      << ", no subscriber " << at(u, "events_unsubscribed").dump() << "); flows active " << at(f, "active").dump()
      << ", ended " << at(f, "ended").dump() << ", evicted " << at(f, "evicted").dump();
  return out.str();
}

std::string http_server_text(const HttpServerStats& s) {
  std::ostringstream out;
  Family(out, "sniffer_metrics_http_connections_accepted_total", "counter",
         "Connections the metrics endpoint accepted.")
      .sample("", s.accepted);
  Family(out, "sniffer_metrics_http_connections_open", "gauge",
         "Connections of the metrics endpoint open now (at most its connection cap).")
      .sample("", s.open);
  Family(out, "sniffer_metrics_http_requests_served_total", "counter",
         "Scrapes answered 200 and written in full (this one not yet included).")
      .sample("", s.served);
  Family(out, "sniffer_metrics_http_connections_dropped_total", "counter",
         "Connections of the metrics endpoint closed before their response was complete, by reason "
         "(evicted: the connection cap was reached and this one was idle the longest; request_timeout: "
         "request line and headers not complete within the deadline from accept; write_timeout: the "
         "response not written within its deadline; client_closed: closed or reset by the client).")
      .sample(label("reason", "evicted"), s.evicted)
      .sample(label("reason", "request_timeout"), s.request_timeout)
      .sample(label("reason", "write_timeout"), s.write_timeout)
      .sample(label("reason", "client_closed"), s.client_closed);
  Family(out, "sniffer_metrics_http_requests_rejected_total", "counter",
         "Requests to the metrics endpoint answered with an error, by reason (bad_request 400, not_found 404, "
         "method_not_allowed 405, header_too_large 431, internal_error 500).")
      .sample(label("reason", "bad_request"), s.bad_request)
      .sample(label("reason", "not_found"), s.not_found)
      .sample(label("reason", "method_not_allowed"), s.method_not_allowed)
      .sample(label("reason", "header_too_large"), s.header_too_large)
      .sample(label("reason", "internal_error"), s.internal_error);
  Family(out, "sniffer_metrics_http_accept_errors_total", "counter",
         "accept() failures of the metrics endpoint (e.g. out of file descriptors).")
      .sample("", s.accept_errors);
  return out.str();
}

namespace {

// HOST:PORT or [V6]:PORT (config validation checked the form).
std::pair<std::string, int> split_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::stoi(listen.substr(colon + 1))};
}

}  // namespace

MetricsServer::MetricsServer(const std::string& listen, HttpLimits limits) {
  auto [host, port] = split_listen(listen);
  try {
    server_ = std::make_unique<HttpServer>(
        host, port,
        std::map<std::string, HttpServer::Handler>{
            {"/metrics",
             [this](const HttpServerStats& stats) {
               HttpResponse r;
               r.content_type = "text/plain; version=0.0.4; charset=utf-8";
               {
                 std::lock_guard<std::mutex> lock(mutex_);
                 r.body = text_;
               }
               // The endpoint's own counters, live (the server thread runs this).
               r.body += http_server_text(stats);
               return r;
             }}},
        limits);
  } catch (const Error& e) {
    throw Error("metrics.listen \"" + listen + "\": " + e.what());
  }
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const { return server_->port(); }

HttpServerStats MetricsServer::stats() const { return server_->stats(); }

void MetricsServer::update(std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  text_ = std::move(text);
}

}  // namespace sniffer
