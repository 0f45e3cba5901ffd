// A file the program writes, with every write, flush and close checked.
//
// A regular file (or a path that does not exist yet) is written to a
// temporary file in the same directory (unnamed, O_TMPFILE, where the file
// system allows) and renamed over the target by commit(): a run that fails
// part way, or is killed, leaves the target as it was, never a file that
// looks complete, and no temporary file. Anything else (a device such as /dev/full, a FIFO,
// /dev/stdout) is written directly: a rename must never replace a device node
// or a pipe; a name that leads to a file this process has open for writing
// (/dev/stdout, /dev/fd/N, /proc/self/fd/N, however spelled) is written
// through that descriptor (`>> file` appends). Every error throws an Error naming `what`, the path and the
// errno text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sniffer {

// Writes `text` to standard output (after what std::cout holds), every write
// checked: a report lost to a full disk or /dev/full throws an Error
// ("standard output: write: No space left on device (errno 28)").
void write_stdout(std::string_view text);

// Opens /dev/null onto each of descriptors 0, 1 and 2 that is closed, as
// daemons do, first thing in main: else the first descriptor the run opens
// (an eventfd, a socket, a file) takes the number, and what is meant for
// standard output goes into it (`--write-csv FILE >&-`: the final report
// into an internal eventfd, EINVAL, exit 1; into a file were it one).
void open_closed_standard_descriptors();

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
  // Whether wrote(bytes) would write the buffer out (what room() handed
  // over is then no longer there to change).
  bool wrote_flushes(std::size_t bytes) const { return used_ + bytes >= flush_at_; }
  // Flushes, syncs, closes and (for a regular file) renames into place.
  void commit();

  // A bulk output written once and not read back soon (the offline CSV):
  // once past its first write-back range, a regular file is written in whole
  // blocks with O_DIRECT, bypassing the page cache (no copy of every byte
  // into it, nothing left to write back at commit), by a thread of the
  // file's own while the next buffer fills (such a write waits for the disk).
  // The bytes short of a block stay buffered to the next flush; the last
  // ones, and everything where the file system refuses O_DIRECT, go through
  // the page cache. An error of the thread's write throws at the next flush
  // or at commit.
  void bypass_page_cache() { uncached_ = true; }
  // Whether writes bypass the page cache now.
  bool uncached() const { return direct_io_; }

  const std::string& path() const { return path_; }
  bool direct() const { return target_.empty(); }

 private:
  struct Free {
    void operator()(char* p) const;
  };
  struct Writer;
  struct WriterStop {
    void operator()(Writer* w) const;
  };
  [[noreturn]] void fail(const char* step, int err) const;
  void flush_buffer();
  // Writes n bytes from data (what O_DIRECT refuses, and all after, through
  // the page cache).
  void write_out(const char* data, std::size_t n);
  // O_DIRECT: the full blocks of the buffer to the writer thread.
  void flush_uncached();
  // Waits for the writer thread's write, if any, and accounts for it.
  void finish_pending();
  // O_DIRECT on or off on fd_ (on: false when the file system refuses it).
  bool set_uncached(bool on);
  // A buffer of `bytes` (block-aligned, a multiple of the block), holding what the old one held.
  void resize_buffer(std::size_t bytes);
  static std::unique_ptr<char[], Free> aligned_buffer(std::size_t bytes);  // bytes: whole blocks
  // Renames the temporary file to target_ (NewOnly: never over a name).
  void rename_into_place();
  // ".NAME.XXXXXX" with random letters for the Xs, NAME target_'s.
  std::string random_temp_name() const;
  // Names the temporary file in dir_fd_ by `make` (0 or an errno; EEXIST:
  // another name is tried), and remembers the name: 0 or the last errno.
  int make_temp_name(const std::function<int(const std::string&)>& make);
  // A named temporary file (`name`, in dir_fd_): removed at exit and at fatal signals.
  void remember_temp(const std::string& name);
  // Links the O_TMPFILE file: true when at target_ already (NewOnly), false
  // when at a temporary name, to be renamed.
  bool name_unnamed_file();

  std::string path_, what_;
  // The file renamed over (empty: written directly), and the temporary's
  // name (empty while it is unnamed, O_TMPFILE), as a path and in dir_fd_.
  std::string target_, temp_path_, temp_name_;
  // target_'s directory, opened once (O_PATH): the temporary file is made,
  // named and renamed in it, whatever its path leads to by then (R18-2).
  int dir_fd_ = -1;
  const char* temp_c_str_ = nullptr;  // temp_path_, as temp_files holds it (removed at a fatal signal)
  int temp_slot_ = -1;
  std::unique_ptr<char[], Free> buffer_;  // written to fd_ when it holds flush_at_ bytes or more; block-aligned
  std::size_t capacity_ = 0, used_ = 0;
  std::size_t flush_at_ = 64 * 1024;  // 1 MiB once the file is past its first write-back range
  int fd_ = -1;
  Mode mode_;
  std::uint64_t written_ = 0;          // bytes written to fd_
  std::uint64_t write_back_from_ = 0;  // the first byte whose write-back was not yet started
  bool uncached_ = false;   // bypass_page_cache() asked for, and not refused
  bool direct_io_ = false;  // O_DIRECT set on fd_
  std::unique_ptr<char[], Free> spare_;  // O_DIRECT: the buffer the writer thread writes
  std::size_t spare_capacity_ = 0;
  std::unique_ptr<Writer, WriterStop> writer_;  // after spare_: stopped before it is freed
};

}  // namespace sniffer
