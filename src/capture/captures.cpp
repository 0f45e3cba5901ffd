#include "sniffer/captures.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "sniffer/capture_filter.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

namespace {

constexpr std::uint32_t kDefaultPackets = 10000, kMaxPackets = 1000000;
constexpr std::uint32_t kDefaultSeconds = 60, kMaxSeconds = 3600;
constexpr std::uint32_t kMaxSnaplen = 65535;

v1::ControlReply failure(v1::ControlReply::Status status, const std::string& error) {
  v1::ControlReply reply;
  reply.set_status(status);
  reply.set_error(error);
  return reply;
}

std::uint32_t or_default(std::uint32_t value, std::uint32_t fallback) { return value ? value : fallback; }

}  // namespace

Captures::Captures(BpfPrograms& progs, const CaptureConfig& config, const InterfaceTable& interfaces,
                   const MonotonicToWall& clock)
    : progs_(progs), config_(config), interfaces_(interfaces), clock_(clock), directory_(config.full_packet_directory) {
  ring_ = ring_buffer__new(progs_.capture_ring_fd(), &Captures::on_sample, this, nullptr);
  if (!ring_) throw Error("open the captures ring buffer: " + errno_text(errno));
}

Captures::~Captures() {
  progs_.set_capture_active(0);
  ring_buffer__free(ring_);
}

std::uint32_t Captures::running() const {
  return static_cast<std::uint32_t>(std::count_if(sessions_.begin(), sessions_.end(), [](auto& s) { return !!s; }));
}

CaptureCounters Captures::counters() const {
  CaptureCounters c = totals_;
  c.running = running();
  return c;
}

v1::ControlReply Captures::start(const v1::CaptureCommand& cmd, const std::string& who, std::uint64_t now_mono_ns,
                                 std::uint64_t now_wall_ns) {
  const CaptureLimits limits{.packets = or_default(cmd.packets(), kDefaultPackets),
                             .seconds = or_default(cmd.seconds(), kDefaultSeconds),
                             .snaplen = or_default(cmd.snaplen(), kMaxSnaplen)};
  if (limits.packets > kMaxPackets || limits.seconds > kMaxSeconds || limits.snaplen > kMaxSnaplen) {
    return failure(v1::ControlReply::INVALID, "limits: packets <= " + std::to_string(kMaxPackets) + ", seconds <= " +
                                                  std::to_string(kMaxSeconds) + ", snaplen <= " +
                                                  std::to_string(kMaxSnaplen));
  }
  if (!plain_capture_file_name(cmd.file())) {
    return failure(v1::ControlReply::INVALID,
                   "file: a plain name (letters, digits, '-', '_', '.'; not starting with '.'), written in " +
                       config_.full_packet_directory);
  }
  const std::string path = config_.full_packet_directory + "/" + cmd.file();
  sniffer_capture_filter filter;
  try {
    filter = parse_capture_filter(cmd.filter(), interfaces_);
  } catch (const Error& e) {
    return failure(v1::ControlReply::INVALID, e.what());
  }
  filter.snaplen = limits.snaplen;
  auto free_slot = std::find(sessions_.begin(), sessions_.end(), nullptr);
  if (free_slot == sessions_.end()) {
    return failure(v1::ControlReply::FULL, std::to_string(SNIFFER_MAX_CAPTURES) + " captures already run");
  }
  const auto slot = static_cast<std::uint32_t>(free_slot - sessions_.begin());
  for (const auto& s : sessions_) {
    if (s && s->path() == path) return failure(v1::ControlReply::INVALID, path + ": a running capture writes it");
  }
  // lstat, not access: a dangling symbolic link "does not exist" for access(), and
  // opening it would create its target wherever it points, as root.
  if (struct stat st {}; lstat(path.c_str(), &st) == 0) {
    return failure(v1::ControlReply::INVALID,
                   path + (S_ISLNK(st.st_mode) ? " exists (a symbolic link: never followed)" : " exists"));
  }
  try {
    directory_.prepare();
    if (const std::string why = short_of_room(); !why.empty()) return failure(v1::ControlReply::FULL, why);
    clear_counts(slot);
    if (int err = bpf_map_update_elem(progs_.capture_slots_map_fd(), &slot, &filter, BPF_ANY); err != 0) {
      throw Error("capture_slots: update: " + errno_text(-err));  // libbpf: -errno
    }
    *free_slot = std::make_unique<CaptureSession>(slot, path, limits, interfaces_, now_mono_ns, now_wall_ns,
                                                  [this] { return short_of_room(); });
  } catch (const Error& e) {
    return failure(v1::ControlReply::ERROR, e.what());
  }
  set_active();
  ++totals_.started;
  spdlog::warn("control: {} started capture {} into {} (filter \"{}\", {} packets, {} s, snaplen {})", who, slot, path,
               cmd.filter(), limits.packets, limits.seconds, limits.snaplen);
  v1::ControlReply reply;
  reply.set_capture_path(path);
  return reply;
}

void Captures::set_active() {
  std::uint32_t active = 0;
  for (std::uint32_t i = 0; i < SNIFFER_MAX_CAPTURES; ++i) active |= sessions_[i] ? 1u << i : 0;
  progs_.set_capture_active(active);
}

int Captures::on_sample(void* ctx, void* data, std::size_t size) {
  static_cast<Captures*>(ctx)->handle(data, size);
  return 0;
}

void Captures::handle(const void* data, std::size_t size) {
  sniffer_capture_record rec;
  if (size < sizeof rec) return;
  std::memcpy(&rec, data, sizeof rec);
  if (rec.magic != SNIFFER_CAPTURE_RECORD_MAGIC || rec.abi_version != SNIFFER_ABI_VERSION ||
      rec.source != SNIFFER_CAPTURE_SOURCE_SLOTS || sizeof rec + rec.cap_len > size || rec.data_offset != 0) {
    return;
  }
  const std::span<const std::uint8_t> frame(static_cast<const std::uint8_t*>(data) + sizeof rec, rec.cap_len);
  const std::uint64_t wall_ns = clock_.to_wall_ns(rec.ts_mono_ns);
  for (std::uint32_t i = 0; i < SNIFFER_MAX_CAPTURES; ++i) {
    if (!(rec.slots & (1u << i)) || !sessions_[i]) continue;
    try {  // never out of this ring callback: libbpf's C frames are below
      sessions_[i]->add(rec, frame, wall_ns);
    } catch (const Error& e) {
      abandon(i, e.what());
    }
  }
}

void Captures::poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns) {
  if (!running()) return;
  int n = ring_buffer__consume(ring_);
  if (n < 0 && n != -EINTR) throw Error("consume the captures ring buffer: " + errno_text(n));
  const std::string room = short_of_room();  // others may fill the filesystem too
  for (std::uint32_t i = 0; i < SNIFFER_MAX_CAPTURES; ++i) {
    if (!sessions_[i]) continue;
    const std::string why = sessions_[i]->out_of_room().empty() ? room : sessions_[i]->out_of_room();
    if (!why.empty()) {
      spdlog::warn("capture {}: stopped early, its file kept: {}", i, why);
      ++totals_.out_of_room;
      finish(i, now_wall_ns);
    } else if (sessions_[i]->done(now_mono_ns)) {
      finish(i, now_wall_ns);
    }
  }
}

// Checked before a capture starts, after each 1 MiB a capture writes, and on
// every poll while captures run (a statvfs each): a capture writes at most
// about 1 MiB past the bound.
std::string Captures::short_of_room() const {
  if (config_.keep_free_bytes == 0) return {};
  const std::optional<std::uint64_t> free = directory_.free_bytes();
  if (!free || *free >= config_.keep_free_bytes) return {};
  return directory_.path() + " has " + std::to_string(*free) + " bytes free, under capture.keep_free_bytes (" +
         std::to_string(config_.keep_free_bytes) + "), kept for the blocklist's state file and the system";
}

void Captures::stop_all(std::uint64_t now_wall_ns) {
  for (std::uint32_t i = 0; i < SNIFFER_MAX_CAPTURES; ++i) {
    if (sessions_[i]) finish(i, now_wall_ns);
  }
}

// The slot leaves capture_active first; what the ring still holds is read
// before the counts, so that the file's statistics add up.
void Captures::finish(std::uint32_t slot, std::uint64_t now_wall_ns) {
  std::unique_ptr<CaptureSession> session = std::move(sessions_[slot]);
  set_active();
  ring_buffer__consume(ring_);
  const CaptureKernelCounts counts = read_counts(slot);
  std::uint64_t matched = 0, lost = 0;
  for (const auto& [ifindex, c] : counts) {
    matched += c.matched;
    lost += c.ring_full;
  }
  try {
    session->finish(counts, now_wall_ns);
  } catch (const Error& e) {
    spdlog::error("capture {}: {}: stopped, no file written", slot, e.what());
    ++totals_.failed;
    return;
  }
  const std::uint64_t taken = matched - std::min(matched, lost);
  const std::uint64_t past_limit = taken - std::min(taken, session->written());
  totals_.ring_full += lost;
  totals_.written += session->written();
  totals_.not_written += past_limit;
  // Only the losses that happened are named: "0 lost: the ring was full"
  // read as if the ring had been full.
  std::string accounting = std::to_string(matched) + " matched";
  if (lost) accounting += "; " + std::to_string(lost) + " lost, the captures ring was full";
  if (past_limit) {
    accounting += "; " + std::to_string(past_limit) +
                  (session->out_of_room().empty() ? " past the packet limit" : " after it ran out of room") +
                  ", not written";
  }
  spdlog::info("capture {} done: {} packets written to {} ({})", slot, session->written(), session->path(), accounting);
}

void Captures::abandon(std::uint32_t slot, const std::string& why) {
  spdlog::error("capture {}: {}: stopped, no file written", slot, why);
  sessions_[slot].reset();  // its OutputFile, not committed, removes the temporary file
  set_active();
  ++totals_.failed;
}

CaptureKernelCounts Captures::read_counts(std::uint32_t slot) const {
  const int cpus = libbpf_num_possible_cpus();
  std::vector<sniffer_capture_counts> per_cpu(cpus > 0 ? cpus : 1);
  CaptureKernelCounts out;
  for (const auto& [ifindex, info] : interfaces_) {
    const std::uint32_t key = SNIFFER_CAPTURE_COUNT_INDEX(slot, info.stats_slot);
    if (bpf_map_lookup_elem(progs_.capture_counts_map_fd(), &key, per_cpu.data()) != 0) continue;
    sniffer_capture_counts& sum = out[ifindex];
    for (const auto& c : per_cpu) {
      sum.matched += c.matched;
      sum.ring_full += c.ring_full;
    }
  }
  return out;
}

void Captures::clear_counts(std::uint32_t slot) const {
  const int cpus = libbpf_num_possible_cpus();
  const std::vector<sniffer_capture_counts> zeros(cpus > 0 ? cpus : 1);
  for (std::uint32_t iface = 0; iface < SNIFFER_MAX_IFACES; ++iface) {
    const std::uint32_t key = SNIFFER_CAPTURE_COUNT_INDEX(slot, iface);
    if (bpf_map_update_elem(progs_.capture_counts_map_fd(), &key, zeros.data(), BPF_ANY) != 0) {
      throw Error("capture_counts: clear: " + errno_text(errno));
    }
  }
}

}  // namespace sniffer
