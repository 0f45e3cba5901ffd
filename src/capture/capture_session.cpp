#include "sniffer/capture_session.hpp"

#include <algorithm>

#include "sniffer/config_names.hpp"

namespace sniffer {

namespace {

const char* hook_name(std::uint8_t hook) {
  switch (hook) {
    case SNIFFER_HOOK_XDP_INGRESS: return "xdp ingress";
    case SNIFFER_HOOK_TC_INGRESS: return "tc ingress";
    case SNIFFER_HOOK_TC_EGRESS: return "tc egress";
    default: return "unknown hook";
  }
}

// Flushed to the file once this much is queued (and at every poll's end).
constexpr std::size_t kFlushBytes = 1 << 20;

}  // namespace

CaptureSession::CaptureSession(std::uint32_t slot, const std::string& path, const CaptureLimits& limits,
                               const InterfaceTable& interfaces, std::uint64_t start_mono_ns,
                               std::uint64_t start_wall_ns, RoomCheck room_check)
    : slot_(slot),
      limits_(limits),
      start_mono_ns_(start_mono_ns),
      start_wall_ns_(start_wall_ns),
      file_(path, "capture file", OutputFile::Mode::NewOnly),
      writer_(buffer_, "sniffer capture"),
      room_check_(std::move(room_check)) {
  // In ifindex order: the file's interface ids do not depend on a hash's.
  std::map<std::uint32_t, const InterfaceInfo*> sorted;
  for (const auto& [ifindex, info] : interfaces) sorted[ifindex] = &info;
  for (const auto& [ifindex, info] : sorted) {
    interface_id(ifindex, info->name,
                 std::string("role ") + name_of(kRoleNames, info->role) + ", mode " + name_of(kModeNames, info->mode));
  }
  flush();
}

std::uint32_t CaptureSession::interface_id(std::uint32_t ifindex, const std::string& name,
                                           const std::string& comment) {
  auto it = ids_.find(ifindex);
  if (it != ids_.end()) return it->second;
  const std::uint32_t id = writer_.add_interface({.name = name, .comment = comment, .snaplen = limits_.snaplen});
  ids_[ifindex] = id;
  return id;
}

void CaptureSession::add(const sniffer_capture_record& record, std::span<const std::uint8_t> frame,
                         std::uint64_t wall_ns) {
  // Counted at the end as read, not written (osdrop).
  if (written_ >= limits_.packets || !out_of_room_.empty()) return;
  // An interface the table did not have at start (a re-created one): its own block now.
  const std::uint32_t id =
      interface_id(record.ifindex, "ifindex " + std::to_string(record.ifindex), "not monitored at the start");
  std::string comment = hook_name(record.hook);
  if (record.flags & SNIFFER_CAPTURE_CUT_RECORD) {
    comment += "; cut at " + std::to_string(SNIFFER_CAPTURE_MAX_BYTES) + " bytes, the capture record's size";
  }
  writer_.write_packet({.interface_id = id,
                        .ts_ns = wall_ns,
                        .data = frame.first(std::min<std::size_t>(frame.size(), limits_.snaplen)),
                        .original_len = std::max<std::uint32_t>(record.wire_len, frame.size()),
                        .flags = record.hook == SNIFFER_HOOK_TC_EGRESS ? kPcapngOutbound : kPcapngInbound,
                        .comment = comment});
  ++written_;
  ++written_per_if_[record.ifindex];
  if (buffer_.size() >= kFlushBytes) {
    flush();
    if (room_check_) out_of_room_ = room_check_();
  }
}

bool CaptureSession::done(std::uint64_t now_mono_ns) const {
  return written_ >= limits_.packets || !out_of_room_.empty() ||
         now_mono_ns >= start_mono_ns_ + limits_.seconds * 1'000'000'000;
}

void CaptureSession::flush() {
  file_.write(buffer_);
  buffer_.clear();
}

void CaptureSession::finish(const CaptureKernelCounts& counts, std::uint64_t now_wall_ns) {
  for (const auto& [ifindex, id] : ids_) {
    auto c = counts.find(ifindex);
    const sniffer_capture_counts k = c != counts.end() ? c->second : sniffer_capture_counts{};
    const std::uint64_t taken = k.matched - std::min(k.matched, k.ring_full);
    const std::uint64_t written = written_per_if_[ifindex];
    writer_.write_statistics({.interface_id = id,
                              .ts_ns = now_wall_ns,
                              .start_ns = start_wall_ns_,
                              .end_ns = now_wall_ns,
                              .received = k.matched,
                              .if_drop = k.ring_full,
                              .os_drop = taken - std::min(taken, written)});
  }
  flush();
  file_.commit();
}

}  // namespace sniffer
