// One running `sniffer capture`: its kernel slot, its limits, and the pcapng
// file it writes (an OutputFile: the name appears, complete, once it stops).
// One interface description block per monitored interface (name, and role
// and mode in the comment); each packet's hook and direction in its
// enhanced packet block (epb_flags inbound/outbound, the hook in its
// comment); at the end, one statistics block per interface with what the
// kernel matched (isb_ifrecv), what the captures ring could not take
// (isb_ifdrop) and what the daemon read but did not write, past the packet
// limit (isb_osdrop).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "sniffer/abi.h"
#include "sniffer/interfaces.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/pcapng_writer.hpp"

namespace sniffer {

struct CaptureLimits {
  std::uint64_t packets = 0;
  std::uint64_t seconds = 0;
  std::uint32_t snaplen = 0;
};

// Asked after each 1 MiB the capture writes: why it may write no more (the
// filesystem's room, capture.keep_free_bytes), or empty.
using RoomCheck = std::function<std::string()>;

// What the kernel counted for this capture on one interface (capture_counts).
using CaptureKernelCounts = std::map<std::uint32_t, sniffer_capture_counts>;  // by ifindex

class CaptureSession {
 public:
  // Opens `path`; Error when it cannot be created.
  CaptureSession(std::uint32_t slot, const std::string& path, const CaptureLimits& limits,
                 const InterfaceTable& interfaces, std::uint64_t start_mono_ns, std::uint64_t start_wall_ns,
                 RoomCheck room_check = {});

  std::uint32_t slot() const { return slot_; }
  const std::string& path() const { return file_.path(); }
  // A record whose slots include this capture's; `wall_ns` its time.
  void add(const sniffer_capture_record& record, std::span<const std::uint8_t> frame, std::uint64_t wall_ns);
  // The packet limit reached, the time limit passed, or out of room.
  bool done(std::uint64_t now_mono_ns) const;
  // Why the capture stopped writing for room, or empty.
  const std::string& out_of_room() const { return out_of_room_; }
  std::uint64_t written() const { return written_; }
  // Writes the statistics blocks and puts the file in place.
  void finish(const CaptureKernelCounts& counts, std::uint64_t now_wall_ns);

 private:
  std::uint32_t interface_id(std::uint32_t ifindex, const std::string& name, const std::string& comment);
  void flush();

  std::uint32_t slot_;
  CaptureLimits limits_;
  std::uint64_t start_mono_ns_, start_wall_ns_;
  OutputFile file_;
  std::string buffer_;  // blocks not yet written to the file
  PcapngWriter writer_;
  std::map<std::uint32_t, std::uint32_t> ids_;              // ifindex -> interface id
  std::map<std::uint32_t, std::uint64_t> written_per_if_;  // ifindex -> packets written
  std::uint64_t written_ = 0;
  RoomCheck room_check_;
  std::string out_of_room_;
};

}  // namespace sniffer
