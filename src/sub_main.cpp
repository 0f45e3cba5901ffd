// sniffer-sub: subscribes to a sensor's ZeroMQ stream and prints one JSON
// object per event (decoded from protobuf), one per line on stdout.
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/event_json.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sniffer-sub: print a sniffer sensor's events as JSON lines"};
  std::string endpoint, topic = "pkt";
  std::uint64_t max_events = 0;
  double timeout_s = 0;
  bool batches = false;
  app.add_option("--connect", endpoint, "the sensor's publish endpoint, e.g. tcp://127.0.0.1:5556")->required();
  app.add_option("--topic", topic, "topic to subscribe to")->capture_default_str();
  app.add_option("--count", max_events, "exit after this many events (0: never)");
  app.add_option("--timeout", timeout_s, "exit after this many seconds (0: never)");
  app.add_flag("--batches", batches, "also print one {\"batch\": ...} line per batch (sequence, gaps)");
  CLI11_PARSE(app, argc, argv);

  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, topic);
  try {
    sub.connect(endpoint);
  } catch (const zmq::error_t& e) {
    std::cerr << "sniffer-sub: --connect " << endpoint << ": " << e.what() << "\n";
    return 2;
  }
  sub.set(zmq::sockopt::rcvtimeo, 200);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::uint64_t printed = 0;
  std::uint64_t last_sequence = 0;
  std::string last_sensor_start;
  sniffer::v1::EventBatch batch;
  while (max_events == 0 || printed < max_events) {
    if (timeout_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
    zmq::message_t topic_frame, body;
    if (!sub.recv(topic_frame)) continue;  // receive timeout: check the deadline
    if (!topic_frame.more() || !sub.recv(body)) {
      std::cerr << "sniffer-sub: malformed message (expected [topic, batch])\n";
      continue;
    }
    if (!batch.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      std::cerr << "sniffer-sub: cannot decode batch (" << body.size() << " bytes)\n";
      continue;
    }
    std::string start = std::to_string(batch.sensor_start_ns());
    std::uint64_t gap = 0;
    if (start == last_sensor_start && batch.sequence() > last_sequence + 1) gap = batch.sequence() - last_sequence - 1;
    last_sensor_start = start;
    last_sequence = batch.sequence();
    if (batches) {
      std::cout << nlohmann::json{{"batch",
                                   {{"sensor_id", batch.sensor_id()},
                                    {"sequence", batch.sequence()},
                                    {"events", batch.events_size()},
                                    {"missing_batches_before", gap}}}}
                       .dump()
                << "\n";
    } else if (gap) {
      std::cerr << "sniffer-sub: " << gap << " batch(es) missing before sequence " << batch.sequence() << "\n";
    }
    for (const auto& event : batch.events()) {
      std::cout << sniffer::event_to_json(event).dump() << "\n";
      if (max_events && ++printed >= max_events) break;
    }
    std::cout.flush();
  }
  return 0;
}
