// Several capture files read as one stream in timestamp order: a k-way merge,
// one pending frame per file. A file is open only while the merge reads it:
// each is opened once at the start to read its first timestamp and closed,
// then opened again when the merge reaches that time and closed at its end.
// Files of one data set that follow each other are then open one or two at a
// time, whatever their number; files that overlap in time interleave (a flow
// that crosses a file boundary stays one flow). At most open_limit() files are
// open at once: beyond it, the file whose pending frame is the latest is
// closed and reopened when the merge needs it (at the pending frame's offset
// in a classic pcap file, else reading again what it had read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/capture_inputs.hpp"
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
  // Opens every file ("-": standard input) in turn to read its first frame,
  // before handing out any; throws Error naming the first that cannot be
  // opened, is not the file it was resolved to (a link put in its place), is
  // not a capture, or is not Ethernet; a file (re)opened later that is not
  // that file is a read error (see errors()), nothing of it read. Raises the
  // soft limit on open files to the hard one; `open_limit` 0: min(1024, that
  // limit / 2) (about 130 KB a file open, its buffers and libpcap's).
  explicit CaptureMerge(const std::vector<CaptureInput>& files, std::size_t open_limit = 0);

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
  // At most this many files are open at once; files closed before their end
  // because more overlapped (each reopened later), and the most open at once.
  std::size_t open_limit() const { return open_limit_; }
  std::uint64_t reopened() const { return reopened_; }
  std::size_t most_open() const { return most_open_; }

 private:
  struct Input {
    std::string path;
    std::optional<FileIdentity> identity;  // what every open of path must find
    std::unique_ptr<PcapReader> reader;  // null: closed (not reached yet, parked, or done)
    PcapFrame pending;                   // when closed, only its time is kept
    std::uint64_t packets = 0;           // frames read from it, the pending one included
    bool reopenable = true;              // a regular file (not standard input, a pipe)
    std::optional<std::uint64_t> resume; // where its pending frame starts, when closed before its end
  };
  // Input i opened (again): its first `packets` frames read, the last one
  // pending. False when that fails (its error kept, the input done).
  bool reopen(std::size_t i);
  // Closes the open input (one that can be read again) whose pending frame
  // is the latest.
  void park_one();
  void opened(std::size_t i);
  // Reads input i's next frame into its pending slot and onto the heap; at
  // its end (or error) it leaves the merge.
  void advance(std::size_t i);
  // Input i is read to its end (or error): its error kept, its file closed.
  void finish(std::size_t i);
  void close_reader(std::size_t i);
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
  std::size_t open_limit_ = 0;
  std::vector<std::size_t> open_inputs_;  // the inputs whose file is open
  std::size_t most_open_ = 0;
  std::uint64_t reopened_ = 0;
};

}  // namespace sniffer
