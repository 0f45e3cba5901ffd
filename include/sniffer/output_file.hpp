// A file the program writes, with every write, flush and close checked.
//
// A regular file (or a path that does not exist yet) is written to a
// temporary file in the same directory and renamed over the target by
// commit(): a run that fails part way leaves the target as it was, never a
// file that looks complete. Anything else (a device such as /dev/full, a FIFO,
// /dev/stdout) is written directly: a rename must never replace a device node
// or a pipe. Every error throws an Error naming `what`, the path and the
// errno text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sniffer {

// Writes `text` to standard output (after what std::cout holds), every write
// checked: a report lost to a full disk or /dev/full throws an Error
// ("standard output: write: No space left on device (errno 28)").
void write_stdout(std::string_view text);

class OutputFile {
 public:
  // Replace: a regular file (or the one a symbolic link leads to) is
  // replaced at commit. NewOnly: `path` must not exist, now or at commit: a
  // name that appears meanwhile (a file, a symbolic link) is neither followed
  // nor replaced, and commit() fails (a capture file in a directory others
  // may write).
  enum class Mode { Replace, NewOnly };
  // `what` names the file in errors, e.g. "--write-csv".
  OutputFile(std::string path, std::string what, Mode mode = Mode::Replace);
  ~OutputFile();  // not committed: the temporary file is removed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view data);
  // Room for `bytes` at the end of what is buffered, to write in place; then
  // wrote() with the bytes used (at most those). Nothing else in between.
  char* room(std::size_t bytes);
  void wrote(std::size_t bytes);
  // Flushes, syncs, closes and (for a regular file) renames into place.
  void commit();

  const std::string& path() const { return path_; }
  bool direct() const { return temp_path_.empty(); }

 private:
  [[noreturn]] void fail(const char* step, int err) const;
  void flush_buffer();
  // Renames the temporary file to target_ (NewOnly: never over a name).
  void rename_into_place();

  std::string path_, what_;
  std::string target_, temp_path_;  // the file renamed over, and its temporary; empty: written directly
  const char* temp_c_str_ = nullptr;  // temp_path_, as temp_files holds it (removed at a fatal signal)
  int temp_slot_ = -1;
  std::unique_ptr<char[]> buffer_;  // written to fd_ when it holds flush_at_ bytes or more
  std::size_t capacity_ = 0, used_ = 0;
  std::size_t flush_at_ = 64 * 1024;  // 1 MiB once the file is past its first write-back range
  int fd_ = -1;
  Mode mode_;
  std::uint64_t written_ = 0;          // bytes written to fd_
  std::uint64_t write_back_from_ = 0;  // the first byte whose write-back was not yet started
};

}  // namespace sniffer
