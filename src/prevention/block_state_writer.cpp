#include "sniffer/block_state_writer.hpp"

namespace sniffer {

BlockStateWriter::BlockStateWriter(BlockStateFile& file) : file_(file), thread_([this] { run(); }) {}

BlockStateWriter::~BlockStateWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();  // run() writes what is pending before it returns
}

bool BlockStateWriter::busy() const {
  std::lock_guard lock(mutex_);
  return writing_ || pending_.has_value();
}

void BlockStateWriter::submit(std::vector<BlockRule> rules) {
  {
    std::lock_guard lock(mutex_);
    pending_ = std::move(rules);
  }
  wake_.notify_all();
}

void BlockStateWriter::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !writing_ && !pending_; });
}

BlockStateWriter::Status BlockStateWriter::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void BlockStateWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || pending_.has_value(); });
    if (!pending_) return;  // stopping, nothing left to write
    std::vector<BlockRule> rules = std::move(*pending_);
    pending_.reset();
    writing_ = true;
    lock.unlock();
    std::string error;
    try {
      file_.save(rules);
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    writing_ = false;
    ++status_.writes;
    status_.unsaved = !error.empty();
    if (!error.empty()) {
      ++status_.failures;
      status_.last_error = std::move(error);
    }
    idle_.notify_all();
  }
}

}  // namespace sniffer
