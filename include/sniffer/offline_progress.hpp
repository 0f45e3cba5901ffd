// --read-pcap's progress on stderr: a line redrawn in place (carriage
// return) on long runs when stderr is a terminal, or always with
// --progress; and one summary line at the end, always. The formatting is
// pure (counts in, text out) so that it can be tested without a clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sniffer {

// Where a run stands.
struct ProgressSnapshot {
  std::uint64_t bytes_read = 0;
  std::optional<std::uint64_t> bytes_total;  // none: standard input, no known size
  std::size_t files_done = 0;
  std::size_t files_total = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;
  double elapsed_s = 0;
};

// How a run ended.
struct OfflineSummary {
  std::uint64_t packets = 0;
  std::size_t files = 0;
  double elapsed_s = 0;
  std::uint64_t flows = 0;
  std::uint64_t peak_rss_bytes = 0;
};

// "1.5 MiB": binary units, one decimal from KiB on.
std::string format_bytes(std::uint64_t bytes);
// "812", "25.9 k", "2.10 M": a rate with SI prefixes.
std::string format_rate(double per_second);
// "0:07", "12:05", "1:02:03".
std::string format_duration(double seconds);

// The bar's text (no carriage return): bytes of the total and percent,
// files, packets/s, flows, ETA; without a total, bytes and rates only.
std::string progress_line(const ProgressSnapshot& at);
// The final line: packets, files, seconds, packets/s, flows, peak RSS.
std::string summary_line(const OfflineSummary& summary);

// The process's peak resident set so far (getrusage), in bytes.
std::uint64_t peak_rss_bytes();
// The sum of the files' sizes; none when one is standard input ("-") or not
// a regular file (a FIFO: its size is not what will be read).
std::optional<std::uint64_t> capture_bytes_total(const std::vector<std::string>& files);

// Draws the bar at most about four times a second: the caller asks due()
// per packet (a mask test; the clock is read once every 4096 packets), then
// draw() with a snapshot when it says so. The first check draws whatever
// the time, so any run past 4096 packets shows the bar at least once before
// its end.
class OfflineProgress {
 public:
  // show_bar: stderr is a terminal, or --progress.
  explicit OfflineProgress(bool show_bar);

  bool due(std::uint64_t packets) {
    return show_bar_ && (packets & (kCheckEvery - 1)) == 0 && packets != 0 && redraw_due();
  }
  void draw(ProgressSnapshot at);
  // Draws the bar a last time and ends its line (when shown), before
  // anything else is logged.
  void end_bar(const ProgressSnapshot& at);
  // Writes the summary line; always.
  void summarize(const ProgressSnapshot& at, std::uint64_t peak_rss) const;
  double elapsed_s() const;

 private:
  static constexpr std::uint64_t kCheckEvery = 4096;  // a power of two
  static constexpr std::chrono::milliseconds kRedrawEvery{250};
  bool redraw_due() const;

  const bool show_bar_;
  const std::chrono::steady_clock::time_point start_;
  std::optional<std::chrono::steady_clock::time_point> last_draw_;
  std::size_t last_width_ = 0;  // the previous line's, to blank what a shorter one leaves
};

}  // namespace sniffer
