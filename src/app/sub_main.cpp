// sniffer-sub: subscribes to a sensor's ZeroMQ stream and prints one JSON
// object per packet event or flow record (decoded from protobuf), one per
// line on stdout; a stats report as one {"stats": ...} line.
//
// Exit codes: 0 success (and --help, --version); 1 a runtime error (a key file, the
// sensor refused the key or speaks CURVE to a plaintext subscriber, nothing
// arrived before --timeout); 2 a usage error (an unknown option, a bad value).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/curve_auth.hpp"
#include "sniffer/curve_keys.hpp"
#include "sniffer/event_json.hpp"
#include "sniffer/publish_bounds.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/sequence_check.hpp"
#include "sniffer/terminal_text.hpp"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// What sniffer-sub holds at most of messages received and not yet printed
// (its stdout stalled, `| less` at a full screen): ZMQ_RCVHWM messages of up
// to --max-message-bytes each. At the mark libzmq stops reading, the
// publisher drops beyond its own mark and a sensor's sequence numbers show
// the lost batches; left at libzmq's 1000, whatever it connects to could make
// it hold 1000 x 128 MiB (red team, round 18).
constexpr std::int64_t kQueuedBytesBudget = std::int64_t{1} << 30;
constexpr std::int64_t kMinQueuedMessages = 4, kMaxQueuedMessages = 1000;  // libzmq's default

// ZMQ_RCVHWM for messages of up to `max_message_bytes` (-1: no limit, taken
// as the default limit, so that the count stays bounded).
int receive_high_water_mark(std::int64_t max_message_bytes) {
  const std::int64_t largest = max_message_bytes < 0 ? sniffer::kMaxPublishedMessageBytes : max_message_bytes;
  const std::int64_t fits = largest == 0 ? kMaxQueuedMessages : kQueuedBytesBudget / largest;
  return static_cast<int>(std::clamp(fits, kMinQueuedMessages, kMaxQueuedMessages));
}

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

struct Options {
  std::string endpoint, topic = "pkt";
  std::uint64_t max_events = 0;
  double timeout_s = 0;
  bool batches = false;
  std::int64_t max_message_bytes = sniffer::kMaxPublishedMessageBytes;
  std::string server_key, key_file;  // CURVE: both or neither

  bool curve() const { return !server_key.empty(); }
};

// Fills `opts` from the command line. Returns the exit code when the program
// ends here (--help: 0, a usage error: 2).
std::optional<int> parse_options(int argc, char** argv, Options& opts) {
  CLI::App app{"sniffer-sub: print a sniffer sensor's packet events, flow records or stats as JSON lines"};
  app.add_option("--connect", opts.endpoint, "the sensor's publish endpoint, e.g. tcp://127.0.0.1:5556")->required();
  app.add_option("--topic", opts.topic, "pkt (packet events), flow (flow records), stats, or \"\" for all")
      ->capture_default_str();
  app.add_option("--count", opts.max_events, "exit after this many events or flow records (0: never)");
  app.add_option("--timeout", opts.timeout_s, "exit after this many seconds (0: never)");
  app.add_flag("--batches", opts.batches, "also print one {\"batch\": ...} line per batch (sequence, gaps)");
  app.add_option("--max-message-bytes", opts.max_message_bytes,
                 "a publisher that sends a larger message is disconnected (ZMQ_MAXMSGSIZE; -1: no limit). The "
                 "default is above the largest batch a sensor sends (65536 events or flow records, labels of up "
                 "to 256 bytes). Messages not yet printed are held up to 1 GiB in all: 1 GiB / BYTES of them "
                 "(ZMQ_RCVHWM; 4 to 1000, 8 by default and for -1); beyond it the publisher drops them, and "
                 "the sequence gaps say so")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{-1}, std::int64_t{1} << 40))
      ->type_name("BYTES");
  auto* server_key_opt = app.add_option("--server-key", opts.server_key,
                                        "CURVE: the sensor's public key, as Z85 text or a file holding it (.pub)");
  auto* key_file_opt = app.add_option("--key-file", opts.key_file,
                                      "CURVE: this subscriber's secret key file (mode 0600; its public key must be "
                                      "in the sensor's authorized keys)");
  server_key_opt->needs(key_file_opt);
  key_file_opt->needs(server_key_opt);
  app.set_version_flag("--version", "sniffer-sub " SNIFFER_VERSION, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;  // --help, --version: 0
  }
  return std::nullopt;
}

// Subscribes `sub` to the topic, as a CURVE client when asked. False when a
// key cannot be loaded (reported).
bool set_up_subscriber(zmq::socket_t& sub, const Options& opts) {
  sub.set(zmq::sockopt::subscribe, opts.topic);
  // Before connect: libzmq applies it to the connections made afterwards.
  sub.set(zmq::sockopt::maxmsgsize, opts.max_message_bytes);
  sub.set(zmq::sockopt::rcvhwm, receive_high_water_mark(opts.max_message_bytes));
  if (opts.curve()) {
    try {
      sniffer::make_curve_client(sub, sniffer::load_secret_key_file(opts.key_file),
                                 sniffer::load_public_key(opts.server_key));
    } catch (const std::exception& e) {
      std::cerr << "sniffer-sub: " << e.what() << "\n";
      return false;
    }
  }
  sub.set(zmq::sockopt::rcvtimeo, 200);
  return true;
}

// A failed handshake is otherwise silent: watches the subscriber's
// connection and handshake events to say why nothing arrives. Made before
// connect, so no event is missed.
class HandshakeWatch {
 public:
  HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& sub, const Options& opts)
      : curve_(opts.curve()), max_message_bytes_(opts.max_message_bytes) {
    const char* endpoint = "inproc://sniffer-sub-monitor";
    if (zmq_socket_monitor(sub.handle(), endpoint,
                           ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
      monitor_ = zmq::socket_t(ctx, zmq::socket_type::pair);
      monitor_.set(zmq::sockopt::linger, 0);
      monitor_.connect(endpoint);
    }
  }

  // Reads the events so far. False when the sensor refused our key, or
  // speaks another security mechanism: libzmq does not get further than that.
  bool check() {
    zmq::message_t event, address;
    while (monitor_ && monitor_.recv(event, zmq::recv_flags::dontwait)) {
      if (event.more()) (void)monitor_.recv(address);
      if (event.size() < 6) continue;
      std::uint16_t id;
      std::uint32_t value;
      std::memcpy(&id, event.data(), 2);
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
      if (!on_event(id, value)) return false;
    }
    return true;
  }

  bool connected() const { return connected_; }

 private:
  bool on_event(std::uint16_t id, std::uint32_t value) {
    if (id == ZMQ_EVENT_CONNECTED) {
      connected_ = true;
    } else if (id == ZMQ_EVENT_DISCONNECTED) {
      // libzmq drops a publisher whose message is over ZMQ_MAXMSGSIZE, and
      // reconnects: said once, else a stopped sensor or an oversized message
      // would look like silence.
      if (!reported_disconnect_ && max_message_bytes_ >= 0) {
        std::cerr << "sniffer-sub: the publisher's connection closed (it stopped, or sent a message larger than "
                     "--max-message-bytes "
                  << max_message_bytes_ << "): reconnecting\n";
      }
      reported_disconnect_ = true;
    } else if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      if (reported_failure_) std::cerr << "sniffer-sub: CURVE handshake with the sensor succeeded\n";
      reported_failure_ = false;
    } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      std::cerr << "sniffer-sub: the sensor refused this subscriber's key (ZAP status " << value
                << "): is its public key in the sensor's authorized keys file?\n";
      return false;
    } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
      if (curve_) {
        std::cerr << "sniffer-sub: the sensor does not use CURVE (its publish.curve is not set): leave out "
                     "--server-key and --key-file\n";
      } else {
        std::cerr << "sniffer-sub: the sensor requires CURVE (publish.curve): give --server-key (the sensor's "
                     "public key, PREFIX.pub) and --key-file (this subscriber's secret key, authorized by the "
                     "sensor)\n";
      }
      return false;
    } else if (curve_ && !reported_failure_) {
      reported_failure_ = true;
      std::cerr << "sniffer-sub: CURVE handshake with the sensor failed: is --server-key the sensor's public "
                   "key? (retrying)\n";
    }
    return true;
  }

  zmq::socket_t monitor_;
  bool curve_;
  std::int64_t max_message_bytes_;
  bool reported_failure_ = false, reported_disconnect_ = false, connected_ = false;
};

// Decodes each [topic, batch] message and prints its items as JSON lines.
class BatchPrinter {
 public:
  explicit BatchPrinter(const Options& opts) : opts_(opts) {}

  // False when standard output failed (reported): what arrives would be lost unseen.
  bool print(const std::string& name, const zmq::message_t& body) {
    ++received_;
    const int size = static_cast<int>(body.size());
    if (name == sniffer::kTopicPackets && events_.ParseFromArray(body.data(), size)) {
      batch_seen(name, events_, events_.events_size());
      for (const auto& event : events_.events()) {
        std::cout << sniffer::event_to_json(event).dump() << "\n";
        if (done_after_one_more()) break;
      }
    } else if (name == sniffer::kTopicFlows && flows_.ParseFromArray(body.data(), size)) {
      batch_seen(name, flows_, flows_.flows_size());
      for (const auto& flow : flows_.flows()) {
        std::cout << sniffer::flow_to_json(flow).dump() << "\n";
        if (done_after_one_more()) break;
      }
    } else if (name == sniffer::kTopicStats && stats_.ParseFromArray(body.data(), size)) {
      nlohmann::json report = nlohmann::json::parse(stats_.report_json(), nullptr, false);
      // Printed, it made the line invalid JSON (red team R16-9).
      if (report.is_discarded()) return skipped(name, body, ": its report is not JSON");
      batch_seen(name, stats_, 0);
      std::cout << nlohmann::json{{"stats", {{"sensor_id", stats_.sensor_id()},
                                             {"timestamp_ns", stats_.timestamp_ns()},
                                             {"report", report}}}}
                       .dump()
                << "\n";
    } else {
      return skipped(name, body);
    }
    std::cout.flush();
    if (!std::cout) {  // a full disk or a closed reader
      std::cerr << "sniffer-sub: standard output: write failed\n";
      return false;
    }
    return true;
  }

  // --count is reached.
  bool done() const { return opts_.max_events != 0 && printed_ >= opts_.max_events; }
  // Messages received, decodable or not.
  std::uint64_t received() const { return received_; }

  void report_sequences() const {
    for (const auto& [name, seq] : sequences_.topics()) {
      std::cerr << "sniffer-sub: " << name << ": " << seq.batches << " batch(es) received, " << seq.missing
                << " missing\n";
    }
  }

 private:
  // A message that is not printed (every line printed is JSON): said, and the run goes on.
  static bool skipped(const std::string& name, const zmq::message_t& body, const char* why = "") {
    // The topic is the publisher's bytes: escaped, so that none reaches the terminal as a control sequence.
    std::cerr << "sniffer-sub: cannot decode a message on topic \"" << sniffer::terminal_text(name) << "\" ("
              << body.size() << " bytes)" << why << "\n";
    return true;
  }

  bool done_after_one_more() { return opts_.max_events && ++printed_ >= opts_.max_events; }

  // Tracks one decoded batch's sequence; prints its header line (--batches) or its gap.
  template <class Batch>
  void batch_seen(const std::string& name, const Batch& batch, int items) {
    const std::uint64_t gap = sequences_.see(name, batch.sensor_start_ns(), batch.sequence());
    if (opts_.batches) {
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
  }

  const Options& opts_;
  std::uint64_t printed_ = 0, received_ = 0;
  sniffer::SequenceCheck sequences_;  // per topic
  sniffer::v1::EventBatch events_;
  sniffer::v1::FlowBatch flows_;
  sniffer::v1::StatsReport stats_;
};

// Receives and prints until --count, --timeout or a signal. False on an
// error that ends the run (reported).
bool receive(zmq::socket_t& sub, HandshakeWatch& handshakes, BatchPrinter& printer, const Options& opts) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opts.timeout_s);
  while (!g_stop && !printer.done()) {
    if (opts.timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
    zmq::message_t topic_frame, body;
    if (!handshakes.check()) return false;
    try {
      if (!sub.recv(topic_frame)) continue;  // receive timeout: check the deadline
      if (!topic_frame.more() || !sub.recv(body)) {
        std::cerr << "sniffer-sub: malformed message (expected [topic, batch])\n";
        continue;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // SIGINT/SIGTERM: the loop ends
      std::cerr << "sniffer-sub: receive: " << e.what() << "\n";  // not an uncaught exception (abort, 134)
      return false;
    }
    if (!printer.print(topic_frame.to_string(), body)) return false;
  }
  return true;
}

// The --timeout ended a wait for nothing: says what is the likely cause.
void report_nothing_arrived(const Options& opts, HandshakeWatch& handshakes) {
  (void)handshakes.check();
  std::cerr << "sniffer-sub: nothing arrived from " << opts.endpoint << " in " << opts.timeout_s << " s";
  if (!handshakes.connected()) {
    std::cerr << ": no connection was made (is the sensor running, with this publish.endpoint?)\n";
  } else if (!opts.curve()) {
    std::cerr << " (topic \"" << opts.topic << "\"): is the sensor capturing? It may also require CURVE: then give "
                 "--server-key and --key-file\n";
  } else {
    std::cerr << " (topic \"" << opts.topic << "\"): is the sensor capturing?\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (auto exit_code = parse_options(argc, argv, opts)) return *exit_code;

  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  if (!set_up_subscriber(sub, opts)) return kExitError;
  HandshakeWatch handshakes(ctx, sub, opts);
  try {
    sub.connect(opts.endpoint);
  } catch (const zmq::error_t& e) {
    std::cerr << "sniffer-sub: --connect " << opts.endpoint << ": " << e.what() << "\n";
    return kExitUsage;
  }

  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
  BatchPrinter printer(opts);
  if (!receive(sub, handshakes, printer, opts)) return kExitError;
  printer.report_sequences();
  if (!g_stop && printer.received() == 0) {
    report_nothing_arrived(opts, handshakes);
    return kExitError;
  }
  return 0;
}
