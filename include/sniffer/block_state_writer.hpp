// Writes blocklist.state_file off the packet thread. The daemon's loop hands
// over a snapshot of the control rules; one thread serializes and writes it
// (temporary file, fsync, rename: BlockStateFile::save). At most one write is
// queued or in flight: the loop keeps later changes as "dirty" and hands over
// the latest state once the writer is idle, so a burst of commands costs one
// or two rewrites, and a command costs the packet thread no file I/O at all.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sniffer/block_state.hpp"

namespace sniffer {

class BlockStateWriter {
 public:
  struct Status {
    std::uint64_t writes = 0;    // finished, successful or not
    std::uint64_t failures = 0;  // of those, failed
    bool unsaved = false;        // the last write failed
    std::string last_error;      // its error ("... write: No space left on device (errno 28)")
  };

  // `file` must outlive the writer.
  explicit BlockStateWriter(BlockStateFile& file);
  // Finishes what was handed over (a pending write is never dropped), then stops.
  ~BlockStateWriter();
  BlockStateWriter(const BlockStateWriter&) = delete;
  BlockStateWriter& operator=(const BlockStateWriter&) = delete;

  // A write is queued or in flight: a new snapshot should wait.
  bool busy() const;
  // Hands over the rules to write; replaces a queued snapshot not yet started.
  void submit(std::vector<BlockRule> rules);
  // Waits until nothing is queued or in flight.
  void flush();
  Status status() const;

 private:
  void run();

  BlockStateFile& file_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::optional<std::vector<BlockRule>> pending_;
  bool writing_ = false, stop_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace sniffer
