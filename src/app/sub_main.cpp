// sniffer-sub: subscribes to a sensor's ZeroMQ stream and prints one JSON
// object per packet event or flow record (decoded from protobuf), one per
// line on stdout; a stats report as one {"stats": ...} line.
//
// Exit codes: 0 success (and --help); 1 a runtime error (a key file, the
// sensor refused the key or speaks CURVE to a plaintext subscriber, nothing
// arrived before --timeout); 2 a usage error (an unknown option, a bad value).
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/curve_auth.hpp"
#include "sniffer/event_json.hpp"
#include "sniffer/publisher.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

// Per topic: the batch sequence, to report the batches that never arrived.
struct SequenceTracker {
  std::uint64_t sensor_start = 0, last = 0, missing = 0, batches = 0;
  // Batches missing right before this one (0 after a sensor restart: the sequence starts over).
  std::uint64_t see(std::uint64_t start, std::uint64_t sequence) {
    std::uint64_t gap = start == sensor_start && sequence > last + 1 ? sequence - last - 1 : 0;
    sensor_start = start;
    last = sequence;
    missing += gap;
    ++batches;
    return gap;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sniffer-sub: print a sniffer sensor's packet events, flow records or stats as JSON lines"};
  std::string endpoint, topic = "pkt";
  std::uint64_t max_events = 0;
  double timeout_s = 0;
  bool batches = false;
  app.add_option("--connect", endpoint, "the sensor's publish endpoint, e.g. tcp://127.0.0.1:5556")->required();
  app.add_option("--topic", topic, "pkt (packet events), flow (flow records), stats, or \"\" for all")
      ->capture_default_str();
  app.add_option("--count", max_events, "exit after this many events or flow records (0: never)");
  app.add_option("--timeout", timeout_s, "exit after this many seconds (0: never)");
  app.add_flag("--batches", batches, "also print one {\"batch\": ...} line per batch (sequence, gaps)");
  std::string server_key, key_file;
  auto* server_key_opt = app.add_option("--server-key", server_key,
                                        "CURVE: the sensor's public key, as Z85 text or a file holding it (.pub)");
  auto* key_file_opt = app.add_option("--key-file", key_file,
                                      "CURVE: this subscriber's secret key file (mode 0600; its public key must be "
                                      "in the sensor's authorized keys)");
  server_key_opt->needs(key_file_opt);
  key_file_opt->needs(server_key_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;  // --help: 0
  }

  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, topic);
  if (!server_key.empty()) {
    try {
      sniffer::make_curve_client(sub, sniffer::load_secret_key_file(key_file), sniffer::load_public_key(server_key));
    } catch (const std::exception& e) {
      std::cerr << "sniffer-sub: " << e.what() << "\n";
      return kExitError;
    }
  }
  sub.set(zmq::sockopt::rcvtimeo, 200);
  // A failed handshake is otherwise silent: say why nothing arrives.
  // (Watched from before connect, so no event is missed.)
  zmq::socket_t monitor;
  const char* monitor_endpoint = "inproc://sniffer-sub-monitor";
  if (zmq_socket_monitor(sub.handle(), monitor_endpoint,
                         ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
    monitor = zmq::socket_t(ctx, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(monitor_endpoint);
  }
  try {
    sub.connect(endpoint);
  } catch (const zmq::error_t& e) {
    std::cerr << "sniffer-sub: --connect " << endpoint << ": " << e.what() << "\n";
    return kExitUsage;
  }
  const bool curve = !server_key.empty();
  bool reported_failure = false, connected = false;
  // False when the sensor refused our key, or speaks another security
  // mechanism: libzmq does not get further than that.
  auto check_handshakes = [&] {
    zmq::message_t event, address;
    while (monitor && monitor.recv(event, zmq::recv_flags::dontwait)) {
      if (event.more()) (void)monitor.recv(address);
      if (event.size() < 6) continue;
      std::uint16_t id;
      std::uint32_t value;
      std::memcpy(&id, event.data(), 2);
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
      if (id == ZMQ_EVENT_CONNECTED) {
        connected = true;
      } else if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (reported_failure) std::cerr << "sniffer-sub: CURVE handshake with the sensor succeeded\n";
        reported_failure = false;
      } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        std::cerr << "sniffer-sub: the sensor refused this subscriber's key (ZAP status " << value
                  << "): is its public key in the sensor's authorized keys file?\n";
        return false;
      } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        if (curve) {
          std::cerr << "sniffer-sub: the sensor does not use CURVE (its publish.curve is not set): leave out "
                       "--server-key and --key-file\n";
        } else {
          std::cerr << "sniffer-sub: the sensor requires CURVE (publish.curve): give --server-key (the sensor's "
                       "public key, PREFIX.pub) and --key-file (this subscriber's secret key, authorized by the "
                       "sensor)\n";
        }
        return false;
      } else if (curve && !reported_failure) {
        reported_failure = true;
        std::cerr << "sniffer-sub: CURVE handshake with the sensor failed: is --server-key the sensor's public "
                     "key? (retrying)\n";
      }
    }
    return true;
  };

  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::uint64_t printed = 0, received = 0;  // received: messages, decodable or not
  std::map<std::string, SequenceTracker> sequences;
  sniffer::v1::EventBatch events;
  sniffer::v1::FlowBatch flows;
  sniffer::v1::StatsReport stats;
  // Tracks one decoded batch's sequence; prints its header line (--batches) or its gap.
  auto batch_seen = [&](const std::string& name, const auto& batch, int items) {
    std::uint64_t gap = sequences[name].see(batch.sensor_start_ns(), batch.sequence());
    if (batches) {
      std::cout << nlohmann::json{{"batch",
                                   {{"topic", name},
                                    {"sensor_id", batch.sensor_id()},
                                    {"sequence", batch.sequence()},
                                    {"events", items},
                                    {"missing_batches_before", gap}}}}
                       .dump()
                << "\n";
    } else if (gap) {
      std::cerr << "sniffer-sub: " << gap << " " << name << " batch(es) missing before sequence " << batch.sequence()
                << "\n";
    }
  };
  while (!g_stop && (max_events == 0 || printed < max_events)) {
    if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
    zmq::message_t topic_frame, body;
    if (!check_handshakes()) return kExitError;
    try {
      if (!sub.recv(topic_frame)) continue;  // receive timeout: check the deadline
      if (!topic_frame.more() || !sub.recv(body)) {
        std::cerr << "sniffer-sub: malformed message (expected [topic, batch])\n";
        continue;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // SIGINT/SIGTERM: the loop ends
      std::cerr << "sniffer-sub: receive: " << e.what() << "\n";  // not an uncaught exception (abort, 134)
      return kExitError;
    }
    ++received;
    const std::string name = topic_frame.to_string();
    const int size = static_cast<int>(body.size());
    if (name == sniffer::kTopicPackets && events.ParseFromArray(body.data(), size)) {
      batch_seen(name, events, events.events_size());
      for (const auto& event : events.events()) {
        std::cout << sniffer::event_to_json(event).dump() << "\n";
        if (max_events && ++printed >= max_events) break;
      }
    } else if (name == sniffer::kTopicFlows && flows.ParseFromArray(body.data(), size)) {
      batch_seen(name, flows, flows.flows_size());
      for (const auto& flow : flows.flows()) {
        std::cout << sniffer::flow_to_json(flow).dump() << "\n";
        if (max_events && ++printed >= max_events) break;
      }
    } else if (name == sniffer::kTopicStats && stats.ParseFromArray(body.data(), size)) {
      batch_seen(name, stats, 0);
      nlohmann::json report = nlohmann::json::parse(stats.report_json(), nullptr, false);
      std::cout << nlohmann::json{{"stats", {{"sensor_id", stats.sensor_id()},
                                             {"timestamp_ns", stats.timestamp_ns()},
                                             {"report", report}}}}
                       .dump()
                << "\n";
    } else {
      std::cerr << "sniffer-sub: cannot decode a message on topic \"" << name << "\" (" << body.size() << " bytes)\n";
      continue;
    }
    std::cout.flush();
    if (!std::cout) {  // a full disk or a closed reader: what it receives would be lost unseen
      std::cerr << "sniffer-sub: standard output: write failed\n";
      return kExitError;
    }
  }
  for (const auto& [name, seq] : sequences) {
    std::cerr << "sniffer-sub: " << name << ": " << seq.batches << " batch(es) received, " << seq.missing
              << " missing\n";
  }
  if (!g_stop && received == 0) {  // the --timeout ended a wait for nothing
    (void)check_handshakes();
    std::cerr << "sniffer-sub: nothing arrived from " << endpoint << " in " << timeout_s << " s";
    if (!connected) {
      std::cerr << ": no connection was made (is the sensor running, with this publish.endpoint?)\n";
    } else if (!curve) {
      std::cerr << " (topic \"" << topic << "\"): is the sensor capturing? It may also require CURVE: then give "
                   "--server-key and --key-file\n";
    } else {
      std::cerr << " (topic \"" << topic << "\"): is the sensor capturing?\n";
    }
    return kExitError;
  }
  return 0;
}
