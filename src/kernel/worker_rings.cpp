#include "sniffer/worker_rings.hpp"

#include <unistd.h>

#include <string>
#include <utility>

#include <bpf/bpf.h>

#include "sniffer/error.hpp"

namespace sniffer {

WorkerRings::WorkerRings(int event_rings_fd, int events_fd, std::uint32_t workers, std::uint32_t ring_bytes) {
  fds_.push_back(events_fd);
  for (std::uint32_t i = 1; i < workers; ++i) {
    const std::string name = "events_" + std::to_string(i);  // as bpftool map list shows it
    const int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, name.c_str(), 0, 0, ring_bytes, nullptr);
    if (fd < 0) {
      const int err = errno;
      close_owned();
      throw Error("create the ring of worker " + std::to_string(i) + " (" + std::to_string(ring_bytes) +
                  " bytes): " + errno_text(err));
    }
    fds_.push_back(fd);
    if (bpf_map_update_elem(event_rings_fd, &i, &fd, BPF_ANY) != 0) {
      const int err = errno;
      close_owned();
      throw Error("put the ring of worker " + std::to_string(i) + " in event_rings: " + errno_text(err));
    }
  }
}

WorkerRings::~WorkerRings() { close_owned(); }

WorkerRings::WorkerRings(WorkerRings&& other) noexcept : fds_(std::exchange(other.fds_, {})) {}

WorkerRings& WorkerRings::operator=(WorkerRings&& other) noexcept {
  if (this != &other) {
    close_owned();
    fds_ = std::exchange(other.fds_, {});
  }
  return *this;
}

void WorkerRings::close_owned() {
  for (std::size_t i = 1; i < fds_.size(); ++i) close(fds_[i]);
  fds_.clear();
}

}  // namespace sniffer
