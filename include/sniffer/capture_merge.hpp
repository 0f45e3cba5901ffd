// Several capture files read as one stream in timestamp order: a k-way merge
// over the open readers, one pending frame per file (memory stays flat
// whatever the files' sizes). Files of one data set that follow each other
// come out concatenated; files that overlap in time interleave, so a flow
// that crosses a file boundary stays one flow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/pcap_reader.hpp"

namespace sniffer {

// A file whose reading stopped before its end: what was read of it counts.
struct CaptureReadError {
  std::string path;
  std::uint64_t packets = 0;  // frames read from it before the error
  std::string message;
};

class CaptureMerge {
 public:
  // Opens every file ("-": standard input) before reading any; throws Error
  // naming the first that cannot be opened, is not a capture, or is not Ethernet.
  explicit CaptureMerge(const std::vector<std::string>& paths);

  // The earliest pending frame of all files (at equal times, the file given
  // first); false when every file is read. The frame's data stays valid until
  // the next call.
  bool next(PcapFrame& frame);
  std::size_t files() const { return inputs_.size(); }
  // Files read to their end (or to an error), and bytes read of all files.
  std::size_t files_done() const { return files_done_; }
  std::uint64_t bytes_read() const;
  // The files whose reading stopped on an error, in the order it happened.
  const std::vector<CaptureReadError>& errors() const { return errors_; }

 private:
  struct Input {
    std::string path;
    std::unique_ptr<PcapReader> reader;
    PcapFrame pending;
    std::uint64_t packets = 0;
  };
  // Reads input i's next frame into its pending slot and onto the heap; at
  // its end (or error) it leaves the merge.
  void advance(std::size_t i);
  // Input i is read to its end (or error): its error kept, its file closed.
  void finish(std::size_t i);
  // The heap's order: true when input a's pending frame comes after b's.
  auto comes_after() const {
    return [this](std::size_t a, std::size_t b) {
      const std::uint64_t ta = inputs_[a].pending.ts_ns, tb = inputs_[b].pending.ts_ns;
      return ta != tb ? ta > tb : a > b;
    };
  }

  std::vector<Input> inputs_;
  std::vector<std::size_t> heap_;  // inputs with a pending frame, a min-heap by (time, input)
  std::optional<std::size_t> handed_out_;  // its frame is the caller's until the next call
  std::vector<CaptureReadError> errors_;
  std::size_t files_done_ = 0;
  std::uint64_t bytes_done_ = 0;  // of the files done
};

}  // namespace sniffer
