// Full-packet capture on demand, as the daemon runs it: up to
// SNIFFER_MAX_CAPTURES captures at once, each in its kernel slot (filter in
// capture_slots, its bit in capture_active), all fed by the one "captures"
// ring, which poll() drains on every turn of the daemon's loop. A capture
// stops on its own at its packet or time limit; the daemon (not the client)
// writes its file: the control socket answers one reply per request, so the
// frames have no way back to a client, and a detector that asks for a
// capture need not stay connected for it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sniffer.pb.h"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/capture_directory.hpp"
#include "sniffer/capture_session.hpp"
#include "sniffer/config.hpp"
#include "sniffer/counters.hpp"
#include "sniffer/interfaces.hpp"
#include "sniffer/wall_clock.hpp"

struct ring_buffer;  // libbpf

namespace sniffer {

class Captures {
 public:
  // `progs`, `interfaces` and `clock` must outlive this object.
  Captures(BpfPrograms& progs, const CaptureConfig& config, const InterfaceTable& interfaces,
           const MonotonicToWall& clock);
  ~Captures();
  Captures(const Captures&) = delete;
  Captures& operator=(const Captures&) = delete;

  // The control socket's capture command: OK with the file's path, or why not.
  v1::ControlReply start(const v1::CaptureCommand& cmd, const std::string& who, std::uint64_t now_mono_ns,
                         std::uint64_t now_wall_ns);
  // Drains the ring; ends the captures at their limits.
  void poll(std::uint64_t now_mono_ns, std::uint64_t now_wall_ns);
  // Ends every capture (the daemon stops).
  void stop_all(std::uint64_t now_wall_ns);

  std::uint32_t running() const;
  CaptureCounters counters() const;

 private:
  static int on_sample(void* ctx, void* data, std::size_t size);
  void handle(const void* data, std::size_t size);
  void finish(std::uint32_t slot, std::uint64_t now_wall_ns);
  // Stops a capture whose file cannot be written (a full disk, an I/O
  // error): its temporary file removed, counted; the daemon and the other
  // captures go on.
  void abandon(std::uint32_t slot, const std::string& why);
  // Why no capture may write more (capture.keep_free_bytes), or empty.
  std::string short_of_room() const;
  CaptureKernelCounts read_counts(std::uint32_t slot) const;
  void clear_counts(std::uint32_t slot) const;
  void set_active();

  BpfPrograms& progs_;
  CaptureConfig config_;
  const InterfaceTable& interfaces_;
  const MonotonicToWall& clock_;
  CaptureDirectory directory_;  // locked (and cleaned) for this object's life
  ring_buffer* ring_ = nullptr;
  std::array<std::unique_ptr<CaptureSession>, SNIFFER_MAX_CAPTURES> sessions_;
  CaptureCounters totals_;  // but running
};

}  // namespace sniffer
