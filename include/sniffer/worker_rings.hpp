// The "events" rings of the workers (capture.workers): worker 0's is the
// programs' "events"; this creates those of workers 1.. with the same size
// and puts each in the programs' event_rings map at its worker's index,
// where the programs look it up (bpf/record.bpf.h).
#pragma once

#include <cstdint>
#include <vector>

namespace sniffer {

class WorkerRings {
 public:
  WorkerRings() = default;
  // event_rings_fd: the programs' event_rings; events_fd: their "events".
  // Throws Error, naming the ring that could not be made.
  WorkerRings(int event_rings_fd, int events_fd, std::uint32_t workers, std::uint32_t ring_bytes);
  ~WorkerRings();
  WorkerRings(WorkerRings&& other) noexcept;
  WorkerRings& operator=(WorkerRings&& other) noexcept;

  std::uint32_t count() const { return static_cast<std::uint32_t>(fds_.size()); }
  // The ring of `worker` (0: "events").
  int fd(std::uint32_t worker) const { return fds_.at(worker); }

 private:
  void close_owned();
  std::vector<int> fds_;  // [0]: "events", the programs'; the others are ours
};

}  // namespace sniffer
