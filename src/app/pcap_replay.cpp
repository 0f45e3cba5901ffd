#include "sniffer/pcap_replay.hpp"


#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/bpf_loader.hpp"
#include "sniffer/daemon.hpp"
#include "sniffer/error.hpp"
#include "sniffer/load_options.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/pcap_reader.hpp"
#include "sniffer/pipeline.hpp"
#include "sniffer/ring_reader.hpp"
#include "sniffer/stats.hpp"
#include "sniffer/wall_clock.hpp"

namespace sniffer {

namespace {

// BPF_PROG_TEST_RUN delivers frames on the loopback device of the calling
// network namespace, which always has this ifindex.
constexpr std::uint32_t kLoopbackIfindex = 1;

struct PcapCounters {
  std::uint64_t read = 0;       // packets read from the file
  std::uint64_t run = 0;        // packets run through the program
  std::uint64_t too_short = 0;  // shorter than an Ethernet header: the kernel refuses them
  std::uint64_t rejected = 0;   // BPF_PROG_TEST_RUN refused the frame (e.g. larger than it accepts)
  std::uint64_t truncated = 0;  // captured shorter than on the wire (snaplen); run as captured
};

}  // namespace

int run_offline(const Config& config, const OfflineOptions& options) {
  PcapReader pcap(options.pcap_path);

  BpfPrograms progs(load_options(config));
  const InterfaceConfig& iface = options.interface;
  InterfaceTable interfaces{
      {kLoopbackIfindex, InterfaceInfo{iface.name, kLoopbackIfindex, iface.role, iface.mode, /*stats_slot=*/1}}};
  fill_maps(progs, config, interfaces);

  // No host addresses offline: directions follow the interface's role.
  Pipeline pipeline(config, interfaces, HostAddresses{},
                    kernel_flow_outputs(progs, PipelineOutputs{.publish = options.csv_path.empty(),
                                                               .csv_path = options.csv_path}),
                    realtime_now_ns());
  if (options.wait_subscriber_s > 0 && !pipeline.wait_for_subscribers(options.wait_subscriber_s)) {
    spdlog::warn("--wait-subscriber: no subscriber to every published topic after {} s: publishing anyway "
                 "(what nobody hears is counted as unsubscribed)",
                 options.wait_subscriber_s);
  }
  std::uint64_t packet_ts = 0;
  std::uint32_t packet_wire_len = 0;
  // Kernel flow aggregation runs on the capture's clock (set_replay_packet):
  // flow times need no conversion.
  RingReader ring(
      progs.events_map_fd(), config.capture.payload_bytes,
      [&](const DecodedRecord& r) {
        DecodedRecord rec = r;
        rec.header.wire_len = packet_wire_len;  // the original length, even when the capture cut the packet
        pipeline.process(rec, packet_ts, monotonic_now_ns());
      },
      [&](const sniffer_flow_record& r) { pipeline.process_flow(r); });

  PcapCounters counters;
  PcapFrame frame;
  while (pcap.next(frame)) {
    ++counters.read;
    packet_ts = frame.ts_ns;
    packet_wire_len = frame.wire_len;
    if (frame.caplen < frame.wire_len) ++counters.truncated;
    if (frame.caplen < 14) {
      ++counters.too_short;
      continue;
    }
    progs.set_replay_packet(packet_ts, packet_wire_len);
    if (int err = progs.test_run_xdp(frame.data, frame.caplen); err != 0) {
      ++counters.rejected;
      spdlog::debug("packet {} ({} bytes): BPF_PROG_TEST_RUN: {}", counters.read, frame.caplen, errno_text(err));
      continue;
    }
    ++counters.run;
    ring.consume();
    pipeline.tick(packet_ts, monotonic_now_ns());
  }
  const std::string read_error = pcap.error();
  ring.consume();
  pipeline.finish(v1::FLOW_END_END_OF_CAPTURE);

  nlohmann::json kernel = kernel_stats_json(progs.read_counters(), interfaces);
  nlohmann::json user = drain_stats_json(ring.counters());
  user.update(pipeline.counters_json());
  add_kernel_flow_counts(progs, kernel, user);
  nlohmann::json report{{"pcap",
                         {{"file", options.pcap_path},
                          {"packets_read", counters.read},
                          {"packets_run", counters.run},
                          {"too_short", counters.too_short},
                          {"rejected", counters.rejected},
                          {"truncated", counters.truncated},
                          {"read_error", read_error}}},
                        {"kernel", kernel},
                        {"userspace", user}};
  write_stdout(report.dump() + "\n");
  if (!read_error.empty()) {
    spdlog::error("--read-pcap {}: read error after {} packets: {} (everything before it was processed)",
                  options.pcap_path, counters.read, read_error);
    return 1;
  }
  return 0;
}

}  // namespace sniffer
