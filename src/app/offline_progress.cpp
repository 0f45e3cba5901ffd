#include "sniffer/offline_progress.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>

#include <spdlog/fmt/fmt.h>

namespace sniffer {

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string format_rate(double per_second) {
  if (!(per_second >= 0)) per_second = 0;  // NaN from 0/0
  if (per_second < 1e3) return fmt::format("{:.0f}", per_second);
  if (per_second < 1e6) return fmt::format("{:.1f} k", per_second / 1e3);
  return fmt::format("{:.2f} M", per_second / 1e6);
}

std::string format_duration(double seconds) {
  const auto total = static_cast<std::uint64_t>(std::llround(std::max(seconds, 0.0)));
  const std::uint64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  return h ? fmt::format("{}:{:02}:{:02}", h, m, s) : fmt::format("{}:{:02}", m, s);
}

namespace {

double per_second(double count, double elapsed_s) { return elapsed_s > 0 ? count / elapsed_s : 0; }

}  // namespace

std::string progress_line(const ProgressSnapshot& at) {
  const double byte_rate = per_second(static_cast<double>(at.bytes_read), at.elapsed_s);
  std::string bytes = format_bytes(at.bytes_read);
  std::string eta;
  if (at.bytes_total) {
    const std::uint64_t total = *at.bytes_total;
    const std::uint64_t done = std::min(at.bytes_read, total);
    const double percent = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
    bytes += fmt::format(" / {} ({:.0f}%)", format_bytes(total), std::floor(percent));
    eta = byte_rate > 0 ? "  ETA " + format_duration(static_cast<double>(total - done) / byte_rate) : "  ETA --";
  }
  return fmt::format("{}  files {}/{}  {}/s  {} packets/s  {} flows{}", bytes, at.files_done, at.files_total,
                     format_bytes(static_cast<std::uint64_t>(byte_rate)), format_rate(per_second(static_cast<double>(at.packets), at.elapsed_s)),
                     at.flows, eta);
}

std::string summary_line(const OfflineSummary& s) {
  return fmt::format("sniffer: {} packets from {} file{} in {:.2f} s ({} packets/s), {} flows, peak RSS {}",
                     s.packets, s.files, s.files == 1 ? "" : "s", s.elapsed_s,
                     format_rate(per_second(static_cast<double>(s.packets), s.elapsed_s)), s.flows,
                     format_bytes(s.peak_rss_bytes));
}

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
}

std::optional<std::uint64_t> capture_bytes_total(const std::vector<std::string>& files) {
  std::uint64_t total = 0;
  for (const std::string& file : files) {
    struct stat st {};
    if (file == "-" || ::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    total += static_cast<std::uint64_t>(st.st_size);
  }
  return total;
}

OfflineProgress::OfflineProgress(bool show_bar) : show_bar_(show_bar), start_(std::chrono::steady_clock::now()) {}

double OfflineProgress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool OfflineProgress::redraw_due() const {
  return !last_draw_ || std::chrono::steady_clock::now() - *last_draw_ >= kRedrawEvery;
}

void OfflineProgress::draw(ProgressSnapshot at) {
  last_draw_ = std::chrono::steady_clock::now();
  at.elapsed_s = elapsed_s();
  std::string line = progress_line(at);
  const std::size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  std::fprintf(stderr, "\r%s", line.c_str());
}

void OfflineProgress::end_bar(const ProgressSnapshot& at) {
  if (!show_bar_) return;
  draw(at);
  std::fputc('\n', stderr);
}

void OfflineProgress::summarize(const ProgressSnapshot& at, std::uint64_t peak_rss) const {
  const OfflineSummary summary{.packets = at.packets,
                               .files = at.files_total,
                               .elapsed_s = elapsed_s(),
                               .flows = at.flows,
                               .peak_rss_bytes = peak_rss};
  std::fprintf(stderr, "%s\n", summary_line(summary).c_str());
}

}  // namespace sniffer
