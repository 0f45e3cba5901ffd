#include "sniffer/capture_merge.hpp"

#include <algorithm>

namespace sniffer {

CaptureMerge::CaptureMerge(const std::vector<std::string>& paths) {
  inputs_.reserve(paths.size());
  for (const std::string& path : paths) {
    inputs_.push_back(Input{.path = path, .reader = std::make_unique<PcapReader>(path)});
  }
  heap_.reserve(inputs_.size());
  for (std::size_t i = 0; i < inputs_.size(); ++i) advance(i);
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
  input.reader.reset();  // closes the file: a long list does not keep every one open to its end
}

std::uint64_t CaptureMerge::bytes_read() const {
  std::uint64_t bytes = bytes_done_;
  for (const Input& input : inputs_) {
    if (input.reader) bytes += input.reader->bytes_read();
  }
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
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), comes_after());
  const std::size_t i = heap_.back();
  heap_.pop_back();
  frame = inputs_[i].pending;
  handed_out_ = i;
  return true;
}

}  // namespace sniffer
