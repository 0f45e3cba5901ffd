// bench/micro_user: userspace cost per record, Google Benchmark.
//   decode            decode_record() of a ring sample
//   flow_table        flow_packet_of + FlowTable::add, N distinct flows
//                     (beyond max_flows=65536 the table evicts, as live)
//   events_encode     records (64 B snippets) -> EventWireBatch (256) -> its wire bytes: the
//                     publish path's encoding alone; events_encode_protobuf the same batch
//                     through record_to_event + libprotobuf's serialisation (the reference)
//   events_publish    decode -> RecordProcessor -> EventWireBatch (256)
//                     -> ZeroMQ inproc XPUB -> a SUB thread reading
//   full_pipeline     the same plus the flow table and flow records (the daemon's path);
//                     peek:1 hands each record to RecordProcessor::prefetch a few records
//                     ahead, as RingReader's peek does live (--fixed always does)
//   flow_output       one ended flow -> FlowRecord (to_proto, Community ID) -> CSV row
//                     into /dev/null: the offline path's cost per flow (--write-csv)
// items_per_second = records/s on one core (the SUB thread runs on the other).
//
//   bench/build/bench/micro_user                       # all benchmarks
//   bench/build/bench/micro_user --fixed N [SNIPPET]   # N records (SNIPPET B payload each) through full_pipeline once
//                                                      # (the callgrind driver, bench/callgrind.sh)
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "sniffer/abi.h"
#include "sniffer/event_codec.hpp"
#include "sniffer/event_wire.hpp"
#include "sniffer/flow_output.hpp"
#include "sniffer/flow_table.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/host_addresses.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/flow_packet.hpp"
#include "sniffer/publisher.hpp"
#include "sniffer/record.hpp"
#include "sniffer/record_processor.hpp"
#include "sniffer/ring_reader.hpp"

using namespace sniffer;

namespace {

constexpr std::uint32_t kIfindex = 1;

// n records cycling over `flows` distinct TCP 5-tuples, both directions.
std::vector<sniffer_record> make_records(std::size_t n, std::uint32_t flows) {
  std::vector<sniffer_record> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    sniffer_record& r = v[i];
    std::memset(&r, 0, sizeof r);
    std::uint32_t f = static_cast<std::uint32_t>(i % flows);
    bool reverse = (i / flows) % 2 == 1;
    r.magic = SNIFFER_RECORD_MAGIC;
    r.abi_version = SNIFFER_ABI_VERSION;
    r.record_len = sizeof(sniffer_record);
    r.ts_mono_ns = 1'000'000'000ull + i * 1000;
    r.ifindex = kIfindex;
    r.wire_len = 64;
    r.hook = SNIFFER_HOOK_XDP_INGRESS;
    r.mode = SNIFFER_MODE_GATEWAY;
    r.is_wan_facing = 1;
    r.ip_version = 4;
    r.l4_proto = 6;
    r.tcp_flags = 0x10;
    r.ttl = 64;
    r.ethertype = 0x0800;
    r.l3_hdr_len = 20;
    r.l4_hdr_len = 20;
    r.ip_total_len = 50;
    r.payload_offset = 54;
    std::uint32_t a = htonl(0xC6336400u + 10), b = htonl(0xC0000200u + (f >> 16) + 10);  // 198.51.100.10, 192.0.2.x
    std::uint16_t pa = static_cast<std::uint16_t>(1024 + (f & 0xffff) % 60000), pb = 443;
    if (reverse) { std::swap(a, b); std::swap(pa, pb); }
    std::memcpy(r.saddr, &a, 4);
    std::memcpy(r.daddr, &b, 4);
    r.sport = pa;
    r.dport = pb;
    r.tcp_seq = static_cast<std::uint32_t>(i);
  }
  return v;
}

InterfaceTable interfaces() {
  InterfaceTable t;
  t[kIfindex] = InterfaceInfo{"wan0", kIfindex, Role::Wan, Mode::Gateway, 1};
  return t;
}

FlowTableConfig table_config() {
  FlowTableConfig c;
  c.max_flows = 65536;
  return c;
}

void BM_Decode(benchmark::State& state) {
  auto recs = make_records(4096, 1000);
  DecodedRecord out;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(decode_record(&recs[i++ & 4095], sizeof(sniffer_record), 0, out));
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode);

void BM_FlowTable(benchmark::State& state) {
  const auto flows = static_cast<std::uint32_t>(state.range(0));
  auto recs = make_records(std::max<std::size_t>(1 << 18, 4 * flows), flows);
  std::uint64_t exported = 0;
  FlowTable table(table_config(), [&](const FlowState&, v1::FlowEndReason, bool) { ++exported; });
  FlowPacket p;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& r = recs[i];
    if (++i == recs.size()) i = 0;
    flow_packet_of(r, r.ts_mono_ns, p);
    table.add(p);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["flows_in_table"] = static_cast<double>(table.size());
  state.counters["evicted"] = static_cast<double>(table.counters().evicted);
}
BENCHMARK(BM_FlowTable)->ArgName("flows")->Arg(1000)->Arg(50000)->Arg(1000000);

// Flows of 3 packets (SYN, SYN-ACK, ACK), ended by the table's flush, each
// written as a CSV row: what a flood-heavy capture costs offline per flow.
void BM_FlowOutput(benchmark::State& state) {
  std::vector<FlowState> ended;
  FlowTable table(table_config(), [&](const FlowState& f, v1::FlowEndReason, bool) { ended.push_back(f); });
  auto recs = make_records(3 * 4096, 4096);
  const std::uint8_t flags[] = {0x02, 0x12, 0x10};
  FlowPacket p;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    recs[i].tcp_flags = flags[i / 4096];
    flow_packet_of(recs[i], recs[i].ts_mono_ns, p);
    table.add(p);
  }
  table.flush(v1::FLOW_END_IDLE_TIMEOUT);
  const InterfaceTable ifaces = interfaces();
  const HostAddresses host;
  OutputFile csv("/dev/null", "csv");
  FlowOutput output(ifaces, host, nullptr, &csv);
  std::size_t i = 0;
  for (auto _ : state) {
    output(ended[i], v1::FLOW_END_IDLE_TIMEOUT, false);
    if (++i == ended.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlowOutput);

// Decoded records of make_records with a 64 B snippet (lab.json's) each, and
// the Community ID of each record's flow (as RecordProcessor passes it).
struct EncodeInput {
  std::vector<sniffer_record> records = make_records(4096, 1000);
  std::vector<std::uint8_t> snippet = std::vector<std::uint8_t>(64, 0x5a);
  std::vector<DecodedRecord> decoded;
  std::string community_id = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
  InterfaceInfo iface = interfaces().at(kIfindex);
  EncodeInput() {
    for (const auto& r : records) decoded.push_back(DecodedRecord{r, snippet});
  }
};

void BM_EventsEncode(benchmark::State& state) {
  EncodeInput in;
  EventWireBatch batch("bench", 1, 0);
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const DecodedRecord& d = in.decoded[i++ & 4095];
    batch.add(d, &in.iface, d.header.ts_mono_ns, in.community_id);
    if (batch.size() == 256) bytes += batch.take().size;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_EventsEncode);

void BM_EventsEncodeProtobuf(benchmark::State& state) {
  EncodeInput in;
  v1::EventBatch batch;
  batch.set_sensor_id("bench");
  batch.set_sensor_start_ns(1);
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const DecodedRecord& d = in.decoded[i++ & 4095];
    v1::PacketEvent& e = *batch.add_events();
    record_to_event(d, &in.iface, d.header.ts_mono_ns, e);
    e.set_community_id(in.community_id);
    if (batch.events_size() == 256) {
      const std::size_t size = batch.ByteSizeLong();
      std::unique_ptr<std::uint8_t[]> out(new std::uint8_t[size]);
      batch.SerializeWithCachedSizesToArray(out.get());
      bytes += size;
      batch.mutable_events()->Clear();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_EventsEncodeProtobuf);

// A subscriber on its own thread, reading every message until told to stop.
struct Subscriber {
  zmq::socket_t sock;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> messages{0}, bytes{0};
  std::thread th;
  Subscriber(zmq::context_t& ctx, const std::string& ep) : sock(ctx, zmq::socket_type::sub) {
    sock.set(zmq::sockopt::subscribe, "pkt");
    sock.set(zmq::sockopt::subscribe, "flow");
    sock.set(zmq::sockopt::rcvtimeo, 50);
    sock.connect(ep);
    th = std::thread([this] {
      zmq::message_t m;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!sock.recv(m)) continue;
        if (!m.more()) { messages.fetch_add(1, std::memory_order_relaxed); }
        bytes.fetch_add(m.size(), std::memory_order_relaxed);
      }
    });
  }
  ~Subscriber() { stop = true; th.join(); }
};

struct Rig {
  zmq::context_t ctx{1};
  PublishConfig pc;
  InterfaceTable ifs = interfaces();
  HostAddresses host;
  std::optional<PublishSocket> sock;
  std::optional<EventStream> events;
  std::optional<FlowStream> flow_stream;
  std::optional<FlowOutput> flow_out;
  std::optional<FlowTable> table;
  std::optional<RecordProcessor> proc;
  std::unique_ptr<Subscriber> sub;
  std::vector<std::uint8_t> snippet;  // every record's payload snippet (lab.json: 64 B), or none

  Rig(const std::string& ep, bool with_flows) {
    pc.endpoint = ep;
    sock.emplace(ctx, pc);
    sub = std::make_unique<Subscriber>(ctx, ep);
    while (!sock->has_subscriber("pkt")) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    events.emplace(*sock, kTopicPackets, pc, "bench", 1);
    if (with_flows) {
      flow_stream.emplace(*sock, kTopicFlows, pc, "bench", 1);
      flow_out.emplace(ifs, host, &*flow_stream, nullptr);
      table.emplace(table_config(), [this](const FlowState& f, v1::FlowEndReason r, bool u) { (*flow_out)(f, r, u); });
    }
    proc.emplace(ifs, host, &*events, table ? &*table : nullptr);
  }
  void feed(const sniffer_record& r) {
    DecodedRecord d;
    if (decode_record(&r, sizeof r, 0, d) != DecodeStatus::Ok) return;
    d.snippet = snippet;
    proc->process(d, r.ts_mono_ns, r.ts_mono_ns);
  }
  // RecordProcessor::kGroup records at once, as the live reader hands them over.
  void feed_group(const sniffer_record* r) {
    constexpr std::size_t n = RecordProcessor::kGroup;
    DecodedRecord d[n];
    const DecodedRecord* p[n];
    std::uint64_t ts[n];
    for (std::size_t i = 0; i < n; ++i) {
      if (decode_record(&r[i], sizeof r[i], 0, d[i]) != DecodeStatus::Ok) return;
      d[i].snippet = snippet;
      p[i] = &d[i];
      ts[i] = r[i].ts_mono_ns;
    }
    proc->process_group(p, ts, n, r[n - 1].ts_mono_ns);
  }
};

// peek: each record is handed to RecordProcessor::prefetch RingReader::kPeekAhead
// records before process(), as the live reader does.
void run_publish(benchmark::State& state, bool with_flows) {
  static int n = 0;
  Rig rig("inproc://bench" + std::to_string(n++), with_flows);
  auto recs = make_records(1 << 18, static_cast<std::uint32_t>(state.range(0)));
  const bool peek = state.range(1) != 0;
  std::size_t i = 0, ahead = RingReader::kPeekAhead;
  if (state.range(1) == 2) {  // groups (process_group): an iteration is a group
    constexpr std::size_t n = RecordProcessor::kGroup;
    for (auto _ : state) {
      rig.feed_group(&recs[i]);
      i += n;
      if (i + n > recs.size()) i = 0;
    }
    rig.events->flush();
    if (rig.flow_stream) rig.flow_stream->flush();
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
    return;
  }
  for (auto _ : state) {
    if (peek) rig.proc->prefetch(&recs[ahead], sizeof(sniffer_record));
    if (++ahead == recs.size()) ahead = 0;
    rig.feed(recs[i]);
    if (++i == recs.size()) i = 0;
  }
  rig.events->flush();
  if (rig.flow_stream) rig.flow_stream->flush();
  state.SetItemsProcessed(state.iterations());
  const auto& c = rig.events->counters();
  state.counters["ev_dropped_hwm"] = static_cast<double>(c.items_dropped_hwm);
  state.counters["ev_published"] = static_cast<double>(c.items_sent);
  if (rig.flow_stream) state.counters["flow_recs"] = static_cast<double>(rig.flow_stream->counters().items_sent);
}
void BM_EventsPublish(benchmark::State& s) { run_publish(s, false); }
void BM_FullPipeline(benchmark::State& s) { run_publish(s, true); }
BENCHMARK(BM_EventsPublish)->ArgNames({"flows", "peek"})->Args({1000, 0})->UseRealTime();
BENCHMARK(BM_FullPipeline)
    ->ArgNames({"flows", "peek"})
    ->ArgsProduct({{1000, 4096, 16384, 32768, 65536, 1000000}, {0, 1, 2}})
    ->UseRealTime();

// Fixed input for callgrind: N records over 1000 flows through the full path,
// each with a snippet of snippet_bytes.
int fixed(std::size_t n, std::size_t snippet_bytes) {
  auto recs = make_records(n, 1000);
  {
    Rig rig("inproc://fixed", true);
    rig.snippet.assign(snippet_bytes, 0x5a);
    for (std::size_t i = 0; i < n; ++i) {
      if (i + RingReader::kPeekAhead < n) rig.proc->prefetch(&recs[i + RingReader::kPeekAhead], sizeof(sniffer_record));
      rig.feed(recs[i]);
    }
    rig.events->flush();
    rig.flow_stream->flush();
    std::printf("fixed: %zu records, %lu events published, %lu dropped_hwm\n", n,
                (unsigned long)rig.events->counters().items_sent,
                (unsigned long)rig.events->counters().items_dropped_hwm);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 3 || argc == 4) && std::strcmp(argv[1], "--fixed") == 0) {
    return fixed(std::strtoull(argv[2], nullptr, 10), argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 0);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
