#include "sniffer/pcap_replay.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/capture_inputs.hpp"
#include "sniffer/capture_merge.hpp"
#include "sniffer/error.hpp"
#include "sniffer/offline_progress.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/pcap_jobs.hpp"
#include "sniffer/sensor.hpp"
#include "sniffer/terminal_text.hpp"

namespace sniffer {

namespace {

struct PcapCounters {
  std::uint64_t read = 0;       // packets read from the files
  std::uint64_t run = 0;        // packets run through the program
  std::uint64_t too_short = 0;  // shorter than an Ethernet header: the kernel refuses them
  std::uint64_t rejected = 0;   // BPF_PROG_TEST_RUN refused the frame (e.g. larger than it accepts)
  std::uint64_t truncated = 0;  // captured shorter than on the wire (snaplen); run as captured
};

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : separator) + part;
  return text;
}

// Every read error, one line each; the report's read_error joins them.
std::string report_read_errors(const std::vector<CaptureReadError>& errors) {
  std::vector<std::string> texts;
  for (const CaptureReadError& e : errors) {
    spdlog::error("--read-pcap {}: read error after {} packets: {} (everything before it was processed)",
                  terminal_text(e.path), e.packets, terminal_text(e.message));
    texts.push_back(e.path + ": " + e.message);
  }
  return joined(texts, "; ");
}

const char* engine_name(ReplayEngine engine) { return engine == ReplayEngine::User ? "user" : "kernel"; }

// Where the run stands, for the progress bar and the summary line.
ProgressSnapshot progress_at(const CaptureMerge& pcap, std::optional<std::uint64_t> bytes_total,
                             std::uint64_t packets, const Report& report) {
  return ProgressSnapshot{.bytes_read = pcap.bytes_read(),
                          .bytes_total = bytes_total,
                          .files_done = pcap.files_done(),
                          .files_total = pcap.files(),
                          .packets = packets,
                          .flows = report.pipeline.flows ? report.pipeline.flows->created : 0};
}

}  // namespace

int run_offline(const Config& config, const OfflineOptions& options) {
  // File names from a walked directory are anyone's: escaped (red team R17-12).
  const std::vector<CaptureInput> files = resolve_capture_inputs(
      options.pcap_inputs, [](const std::string& why) { spdlog::warn("{}", terminal_text(why)); });
  if (options.jobs > 1 && !options.worker) return run_offline_jobs(config, options, files);
  return run_offline_files(config, options, files);
}

int run_offline_files(const Config& config, const OfflineOptions& options, const std::vector<CaptureInput>& inputs) {
  std::vector<std::string> files;
  for (const CaptureInput& input : inputs) files.push_back(input.path);
  CaptureMerge pcap(inputs);
  const ReplayEngine engine = options.engine.value_or(ReplayEngine::User);
  Sensor sensor(config, SensorOptions{.source = PacketSource::Replay,
                                      .replay_interface = options.interface,
                                      .replay_engine = engine,
                                      .first_flow_id = options.first_flow_id,
                                      .publish = options.csv_path.empty(),
                                      .csv_path = options.csv_path,
                                      .csv_uncached = options.csv_uncached,
                                      .labels = options.labels});
  if (options.wait_subscriber_s > 0 && !sensor.wait_for_subscribers(options.wait_subscriber_s)) {
    spdlog::warn("--wait-subscriber: no subscriber to every published topic after {} s: publishing anyway "
                 "(what nobody hears is counted as unsubscribed)",
                 options.wait_subscriber_s);
  }

  const std::optional<std::uint64_t> bytes_total = capture_bytes_total(files);
  OfflineProgress progress(!options.worker && (options.progress || isatty(STDERR_FILENO)));
  PcapCounters counters;
  PcapFrame frame;
  while (pcap.next(frame)) {
    ++counters.read;
    if (frame.caplen < frame.wire_len) ++counters.truncated;
    const ReplayResult result = sensor.replay(frame.data, frame.caplen, frame.ts_ns, frame.wire_len);
    switch (result.verdict) {
      case ReplayVerdict::Run: ++counters.run; break;
      case ReplayVerdict::TooShort: ++counters.too_short; break;
      case ReplayVerdict::Rejected:
        ++counters.rejected;
        spdlog::debug("packet {} ({} bytes): BPF_PROG_TEST_RUN: {}", counters.read, frame.caplen,
                      errno_text(result.error));
        break;
    }
    if (progress.due(counters.read)) progress.draw(progress_at(pcap, bytes_total, counters.read, sensor.report()));
  }
  const Report final_report = sensor.stop(v1::FLOW_END_END_OF_CAPTURE);
  const std::uint64_t peak_rss = peak_rss_bytes();
  const ProgressSnapshot end = progress_at(pcap, bytes_total, counters.read, final_report);
  progress.end_bar(end);
  nlohmann::json report = final_report.to_json();
  const std::string read_error = report_read_errors(pcap.errors());
  report["pcap"] = {{"file", joined(files, ", ")},
                    {"engine", engine_name(engine)},
                    {"files", pcap.files()},
                    {"packets_read", counters.read},
                    {"packets_run", counters.run},
                    {"too_short", counters.too_short},
                    {"rejected", counters.rejected},
                    {"truncated", counters.truncated},
                    {"read_error", read_error},
                    {"peak_rss_bytes", peak_rss}};
  write_stdout(report.dump() + "\n");  // first: when it fails, its error is the last line
  if (!options.worker) progress.summarize(end, peak_rss);
  return read_error.empty() ? 0 : 1;
}

}  // namespace sniffer
