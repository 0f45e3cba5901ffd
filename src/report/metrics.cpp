#include "sniffer/metrics.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include "sniffer/error.hpp"
#include "sniffer/metric_families.hpp"
#include "sniffer/tcp_listener.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

// "stage=kernel,reason=ring_full,interface" (abi.h) -> stage="kernel",reason="ring_full",interface="NAME"
std::string kernel_labels(std::string_view spec, std::string_view interface) {
  std::string labels;
  for (std::size_t start = 0; start < spec.size();) {
    std::size_t end = std::min(spec.find(',', start), spec.size());
    std::string_view item = spec.substr(start, end - start);
    std::size_t eq = item.find('=');
    if (!labels.empty()) labels += ',';
    labels += eq == std::string_view::npos ? label(item, interface) : label(item.substr(0, eq), item.substr(eq + 1));
    start = end + 1;
  }
  return labels;
}

void kernel_samples(FamilyWriter& family, const KernelCounterDef& def, const KernelReport& kernel) {
  if (!def.per_interface()) {
    family.sample(kernel_labels(def.labels, ""), kernel.total[def.index]);
    return;
  }
  for (const auto& [name, stats] : kernel.interfaces) family.sample(kernel_labels(def.labels, name), stats[def.index]);
}

}  // namespace

std::string prometheus_text(const Report& report) {
  std::ostringstream out;
  for (const MetricFamily& metric : metric_families()) {
    FamilyWriter family(out, metric.name, metric.kind, metric.help);
    for (const KernelCounterDef& def : kKernelCounters) {
      if (def.family == metric.name) kernel_samples(family, def, report.kernel);
    }
    if (metric.userspace_samples) metric.userspace_samples(family, report);
  }
  return out.str();
}

std::string summary_line(const Report& report) {
  const KernelStats& k = report.kernel.total;
  const PublishCounters events = report.pipeline.events.value_or(PublishCounters{});
  const FlowCounters flows = report.pipeline.flows.value_or(FlowCounters{});
  std::ostringstream out;
  out << "stats: records " << k[SNIFFER_STAT_RECORDS] << ", ring_full " << k[SNIFFER_STAT_RINGBUF_FULL]
      << ", filtered " << k[SNIFFER_STAT_FILTERED] << ", parse_errors " << k[SNIFFER_STAT_PARSE_ERROR]
      << ", ring_fill " << k[SNIFFER_STAT_RING_FILL] << " B; events published " << events.items_sent
      << " (hwm drops " << events.items_dropped_hwm << ", no subscriber " << events.items_unsubscribed
      << "); flows active " << flows.active << ", ended " << flows.ended << ", evicted " << flows.evicted;
  return out.str();
}

std::string http_server_text(const HttpServerStats& s) {
  std::ostringstream out;
  FamilyWriter(out, "sniffer_metrics_http_connections_accepted_total", MetricKind::Counter,
         "Connections the metrics endpoint accepted.")
      .sample("", s.accepted);
  FamilyWriter(out, "sniffer_metrics_http_connections_open", MetricKind::Gauge,
         "Connections of the metrics endpoint open now (at most its connection cap).")
      .sample("", s.open);
  FamilyWriter(out, "sniffer_metrics_http_requests_served_total", MetricKind::Counter,
         "Scrapes answered 200 and written in full (this one not yet included).")
      .sample("", s.served);
  FamilyWriter(out, "sniffer_metrics_http_connections_dropped_total", MetricKind::Counter,
         "Connections of the metrics endpoint closed before their response was complete, by reason "
         "(evicted: the connection cap was reached and this one was idle the longest; request_timeout: "
         "request line and headers not complete within the deadline from accept; write_timeout: the "
         "response not written within its deadline; client_closed: closed or reset by the client).")
      .sample(label("reason", "evicted"), s.evicted)
      .sample(label("reason", "request_timeout"), s.request_timeout)
      .sample(label("reason", "write_timeout"), s.write_timeout)
      .sample(label("reason", "client_closed"), s.client_closed);
  FamilyWriter(out, "sniffer_metrics_http_requests_rejected_total", MetricKind::Counter,
         "Requests to the metrics endpoint answered with an error, by reason (bad_request 400, not_found 404, "
         "method_not_allowed 405, header_too_large 431, internal_error 500).")
      .sample(label("reason", "bad_request"), s.bad_request)
      .sample(label("reason", "not_found"), s.not_found)
      .sample(label("reason", "method_not_allowed"), s.method_not_allowed)
      .sample(label("reason", "header_too_large"), s.header_too_large)
      .sample(label("reason", "internal_error"), s.internal_error);
  FamilyWriter(out, "sniffer_metrics_http_accept_errors_total", MetricKind::Counter,
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

MetricsServer::MetricsServer(const std::string& listen, HttpLimits limits)
    : listen_(listen), limits_(limits), retry_("metrics.listen", listen, "its metrics endpoint") {
  try {
    bind_server();
  } catch (const BindError& e) {
    if (!e.passing()) throw Error("metrics.listen \"" + listen_ + "\": " + e.what());
    retry_.start_failed(e.what(), e.reason(), monotonic_now_ns());
  } catch (const Error& e) {
    throw Error("metrics.listen \"" + listen_ + "\": " + e.what());
  }
}

void MetricsServer::bind_server() {
  auto [host, port] = split_listen(listen_);
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
      limits_);
}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const { return server_ ? server_->port() : 0; }

HttpServerStats MetricsServer::stats() const { return server_ ? server_->stats() : HttpServerStats{}; }

void MetricsServer::update(std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  text_ = std::move(text);
}

bool MetricsServer::bind_if_due() {
  if (server_ || !retry_.due(monotonic_now_ns())) return false;
  // Whatever the reason now, the run goes on without it (endpoint_retry.hpp).
  try {
    bind_server();
  } catch (const BindError& e) {
    retry_.retry_failed(e.what(), e.reason(), !e.passing(), monotonic_now_ns());
    return false;
  } catch (const std::exception& e) {  // the host name no longer resolves, the server thread could not start...
    retry_.retry_failed(e.what(), e.what(), true, monotonic_now_ns());
    return false;
  }
  retry_.bound("http://" + listen_ + "/metrics");
  return true;
}

}  // namespace sniffer
