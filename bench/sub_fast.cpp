// sub_fast: a native ZeroMQ subscriber for bench/workers.sh, the same accounting as
// bench/sub_flows.py at several million events per second (the Python one takes 1.0-1.6 us per
// event, which capped the sensor's lossless rate in workers.sh at both worker counts).
//
//   sub_fast ENDPOINT OUTFILE TOPIC[,TOPIC] [--decode]   (topics: pkt, flow)
//
// pkt: per EventBatch only the sequence, the worker and the number of events are read; the events
// are skipped by their length prefix without being decoded (--decode: parse every batch fully
// instead, to measure what a full decode costs). flow: every FlowBatch is decoded and, per flow_id,
// the final record (or, if a flow has none, its latest update) is kept, as sub_flows.py does.
// On SIGTERM it drains until nothing arrived for 0.5 s, then writes one JSON object to OUTFILE:
// sub_flows.py's fields (events, pkt_batches, flow_records, flow_updates, flows, duplicate_finals,
// flow_packets), per topic the sequence accounting ("seq": batches, first, last, gaps, missing,
// out_of_order, restarts; sniffer/sequence_check.hpp, as sniffer-sub) and per worker its pkt
// batches and events ("workers").
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "sniffer.pb.h"
#include "sniffer/sequence_check.hpp"

namespace {

namespace pb = sniffer::v1;
using google::protobuf::internal::WireFormatLite;

volatile std::sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

// One topic's sequence accounting, as sub_flows.py writes it.
nlohmann::json sequence_json(const sniffer::SequenceCount& c) {
  return {{"batches", c.batches}, {"first", c.first},   {"last", c.last},         {"gaps", c.gaps},
          {"missing", c.missing}, {"out_of_order", c.out_of_order}, {"restarts", c.restarts}};
}

// What one EventBatch says about itself without its events being decoded.
struct BatchHead {
  std::uint64_t sequence = 0, sensor_start_ns = 0, events = 0;
  std::uint32_t worker = 0;
};

// Walks the batch's top-level fields: sequence, sensor start and worker read, every event (field 4)
// counted and skipped by its length. False on a malformed batch.
bool scan_event_batch(const void* data, std::size_t size, BatchHead& head) {
  constexpr auto kVarint = WireFormatLite::WIRETYPE_VARINT;
  constexpr auto kSequence = WireFormatLite::MakeTag(pb::EventBatch::kSequenceFieldNumber, kVarint);
  constexpr auto kStart = WireFormatLite::MakeTag(pb::EventBatch::kSensorStartNsFieldNumber, kVarint);
  constexpr auto kWorker = WireFormatLite::MakeTag(pb::EventBatch::kWorkerFieldNumber, kVarint);
  constexpr auto kEvent =
      WireFormatLite::MakeTag(pb::EventBatch::kEventsFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  google::protobuf::io::CodedInputStream in(static_cast<const std::uint8_t*>(data), static_cast<int>(size));
  while (const std::uint32_t tag = in.ReadTag()) {
    std::uint32_t length = 0;
    bool ok = true;
    if (tag == kEvent) {
      ok = in.ReadVarint32(&length) && in.Skip(static_cast<int>(length));
      ++head.events;
    } else if (tag == kSequence) {
      ok = in.ReadVarint64(&head.sequence);
    } else if (tag == kStart) {
      ok = in.ReadVarint64(&head.sensor_start_ns);
    } else if (tag == kWorker) {
      ok = in.ReadVarint32(&head.worker);
    } else {
      ok = WireFormatLite::SkipField(&in, tag);
    }
    if (!ok) return false;
  }
  return in.ConsumedEntireMessage();
}

bool decode_event_batch(const void* data, std::size_t size, BatchHead& head) {
  static pb::EventBatch batch;  // reused: its events' storage survives Clear()
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return false;
  head = {batch.sequence(), batch.sensor_start_ns(), static_cast<std::uint64_t>(batch.events_size()), batch.worker()};
  return true;
}

struct WorkerCounts {
  std::uint64_t batches = 0, events = 0;
};

class Accounting {
 public:
  explicit Accounting(bool decode) : decode_(decode) {}

  bool event_batch(const zmq::message_t& payload) {
    BatchHead head;
    if (!(decode_ ? decode_event_batch : scan_event_batch)(payload.data(), payload.size(), head)) return false;
    sequences_.see("pkt", head.sensor_start_ns, head.sequence);
    events_ += head.events;
    WorkerCounts& w = workers_[head.worker];
    ++w.batches;
    w.events += head.events;
    return true;
  }

  bool flow_batch(const zmq::message_t& payload) {
    if (!flow_batch_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return false;
    sequences_.see("flow", flow_batch_.sensor_start_ns(), flow_batch_.sequence());
    for (const pb::FlowRecord& r : flow_batch_.flows()) {
      ++flow_records_;
      flow_updates_ += r.is_update();
      const bool final_record = !r.is_update();
      auto [it, inserted] = kept_.try_emplace(r.flow_id(), final_record, 0);
      if (!inserted && it->second.first && final_record) ++duplicate_finals_;
      if (inserted || !it->second.first) {  // a final record replaces an update, never the reverse
        it->second = {final_record, r.fwd().packets() + r.bwd().packets()};
      }
    }
    return true;
  }

  nlohmann::json json() const {
    std::uint64_t flow_packets = 0;
    for (const auto& [id, kept] : kept_) flow_packets += kept.second;
    nlohmann::json workers = nlohmann::json::object();
    for (const auto& [id, w] : workers_) workers[std::to_string(id)] = {{"batches", w.batches}, {"events", w.events}};
    return {{"events", events_},
            {"pkt_batches", sequences_.count("pkt").batches},
            {"flow_records", flow_records_},
            {"flow_updates", flow_updates_},
            {"flows", kept_.size()},
            {"duplicate_finals", duplicate_finals_},
            {"flow_packets", flow_packets},
            {"seq",
             {{"pkt", sequence_json(sequences_.count("pkt"))}, {"flow", sequence_json(sequences_.count("flow"))}}},
            {"workers", workers}};
  }

 private:
  bool decode_;
  sniffer::SequenceCheck sequences_;
  std::uint64_t events_ = 0, flow_records_ = 0, flow_updates_ = 0, duplicate_finals_ = 0;
  std::map<std::uint32_t, WorkerCounts> workers_;
  pb::FlowBatch flow_batch_;
  std::unordered_map<std::uint64_t, std::pair<bool, std::uint64_t>> kept_;  // flow_id -> (final, packets)
};

// Receives one [topic, payload] message; false when none came within the receive timeout.
bool receive(zmq::socket_t& socket, zmq::message_t& topic, zmq::message_t& payload) {
  try {
    if (!socket.recv(topic)) return false;
    return socket.recv(payload).has_value();  // a multipart message arrives whole
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;  // SIGTERM: the loop decides
    throw;
  }
}

int run(const std::string& endpoint, const std::string& out_file, const std::string& topics, bool decode) {
  zmq::context_t ctx;
  zmq::socket_t socket(ctx, zmq::socket_type::sub);
  std::stringstream list(topics);
  for (std::string topic; std::getline(list, topic, ',');) socket.set(zmq::sockopt::subscribe, topic);
  socket.set(zmq::sockopt::rcvhwm, 0);  // no limit here: a loss must show in the daemon's counters, not ours
  socket.set(zmq::sockopt::rcvtimeo, 100);
  socket.connect(endpoint);

  using Clock = std::chrono::steady_clock;
  constexpr auto kQuiet = std::chrono::milliseconds(500);
  Accounting acc(decode);
  zmq::message_t topic, payload;
  auto last = Clock::now();
  while (!g_stop || Clock::now() - last < kQuiet) {
    if (!receive(socket, topic, payload)) continue;
    last = Clock::now();
    const std::string_view name(static_cast<const char*>(topic.data()), topic.size());
    const bool ok = name == "pkt" ? acc.event_batch(payload) : name == "flow" ? acc.flow_batch(payload) : true;
    if (!ok) {
      std::cerr << "sub_fast: a malformed " << name << " batch\n";
      return 1;
    }
  }
  std::ofstream(out_file) << acc.json().dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool decode = argc == 5 && std::string_view(argv[4]) == "--decode";
  if (argc != 4 && !decode) {
    std::cerr << "usage: sub_fast ENDPOINT OUTFILE TOPIC[,TOPIC] [--decode]\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  try {
    return run(argv[1], argv[2], argv[3], decode);
  } catch (const std::exception& e) {
    std::cerr << "sub_fast: " << e.what() << "\n";
    return 1;
  }
}
