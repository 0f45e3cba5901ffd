#include "sniffer/capture_merge.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>

#include "sniffer/error.hpp"
#include "sniffer/open_files_limit.hpp"

namespace sniffer {

namespace {
// Only a regular file can be opened again and read to the same place.
bool reopenable(const std::string& path) {
  struct stat st {};
  return path != "-" && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
}  // namespace

CaptureMerge::CaptureMerge(const std::vector<CaptureInput>& files, std::size_t open_limit) {
  open_limit_ = open_limit ? open_limit : std::clamp<std::size_t>(raised_open_files_limit() / 2, 2, 1024);
  inputs_.reserve(files.size());
  heap_.reserve(files.size());
  open_inputs_.reserve(open_limit_ + 1);
  for (const CaptureInput& file : files) {
    inputs_.push_back(Input{.path = file.path, .identity = file.identity, .reopenable = reopenable(file.path)});
    const std::size_t i = inputs_.size() - 1;
    inputs_[i].reader = std::make_unique<PcapReader>(file.path, file.identity);
    opened(i);
    advance(i);  // its first frame pending, or done
    // Closed until the merge reaches its first frame (standard input, a pipe
    // stay open: they cannot be read again).
    if (inputs_[i].reader && inputs_[i].reopenable) close_reader(i);
  }
}

void CaptureMerge::opened(std::size_t i) {
  open_inputs_.push_back(i);
  most_open_ = std::max(most_open_, open_inputs_.size());
}

void CaptureMerge::close_reader(std::size_t i) {
  inputs_[i].reader.reset();
  std::erase(open_inputs_, i);
}

void CaptureMerge::park_one() {
  std::optional<std::size_t> latest;
  for (const std::size_t i : open_inputs_) {
    if (inputs_[i].reopenable && (!latest || comes_after()(i, *latest))) latest = i;
  }
  if (!latest) return;  // only inputs that cannot be read again are open
  inputs_[*latest].resume = inputs_[*latest].reader->last_frame_offset();
  close_reader(*latest);
  ++reopened_;
}

bool CaptureMerge::reopen(std::size_t i) {
  Input& input = inputs_[i];
  if (open_inputs_.size() >= open_limit_) park_one();
  try {
    input.reader = std::make_unique<PcapReader>(input.path, input.identity);
  } catch (const Error& e) {
    errors_.push_back({input.path, input.packets - 1, e.what()});
    ++files_done_;
    return false;
  }
  opened(i);
  // The pending frame read again: from where it starts, or the frames read
  // before it was closed are read again, the last one pending.
  const bool resumed = input.resume && input.reader->resume_at(*input.resume);
  for (std::uint64_t n = resumed ? input.packets - 1 : 0; n < input.packets; ++n) {
    if (input.reader->next(input.pending)) continue;
    const std::string& why = input.reader->error();
    errors_.push_back({input.path, input.packets - 1, why.empty() ? "shorter than when it was first read" : why});
    ++files_done_;
    bytes_done_ += input.reader->bytes_read();
    close_reader(i);
    return false;
  }
  return true;
}

void CaptureMerge::advance(std::size_t i) {
  Input& input = inputs_[i];
  if (input.reader->next(input.pending)) {
    ++input.packets;
    heap_.push_back(i);
    std::push_heap(heap_.begin(), heap_.end(), comes_after());
    return;
  }
  finish(i);
}

void CaptureMerge::finish(std::size_t i) {
  Input& input = inputs_[i];
  if (!input.reader->error().empty()) errors_.push_back({input.path, input.packets, input.reader->error()});
  ++files_done_;
  bytes_done_ += input.reader->bytes_read();
  close_reader(i);
}

std::uint64_t CaptureMerge::bytes_read() const {
  std::uint64_t bytes = bytes_done_;
  for (const std::size_t i : open_inputs_) bytes += inputs_[i].reader->bytes_read();
  return bytes;
}

bool CaptureMerge::next(PcapFrame& frame) {
  if (handed_out_ && inputs_.size() == 1) {  // one file: its frames in its order, no heap
    Input& input = inputs_[0];
    if (input.reader->next(frame)) {
      ++input.packets;
      return true;
    }
    finish(0);
    handed_out_.reset();
    return false;
  }
  // The frame handed out last belongs to its reader's buffer: only now may
  // that reader move on.
  if (handed_out_) advance(*handed_out_);
  handed_out_.reset();
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), comes_after());
    const std::size_t i = heap_.back();
    heap_.pop_back();
    if (!inputs_[i].reader) {  // reached, but closed: opened (again), and back in its place
      if (reopen(i)) {
        heap_.push_back(i);
        std::push_heap(heap_.begin(), heap_.end(), comes_after());
      }
      continue;
    }
    frame = inputs_[i].pending;
    handed_out_ = i;
    return true;
  }
  return false;
}

}  // namespace sniffer
