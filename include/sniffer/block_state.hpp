// The blocks added over the control socket, kept across restarts in
// blocklist.state_file: rewritten whole (temporary file, fsync, rename) after
// changes, off the packet thread (block_state_writer.hpp), read back at start through the same guard as the config's
// entries. Expiry is kept as wall-clock time: a block of 600 s added at 10:00
// ends at 10:10 however often the sensor restarts in between.
//
// One sensor per state file: an exclusive flock on "<state_file>.lock", held
// for the daemon's life (the kernel drops it when the holder dies, SIGKILL
// included). The daemon never overwrites a file it could not read: an
// unreadable or corrupt one is renamed aside ("<state_file>.bad-<UTC time>",
// "-2", "-3"... after it when that name is taken: never over an earlier one)
// and named in the log, or, when even that fails, the start fails.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sniffer/blocklist.hpp"
#include "sniffer/error.hpp"

namespace sniffer {

// The file's text for these rules (the control entries only: static ones come
// from the config).
std::string block_state_text(const std::vector<BlockRule>& rules);
// The rules in a state file's text, with expires_mono_ns unset. Throws Error
// saying what is wrong and where ("entries[2].prefix: ...").
std::vector<BlockRule> parse_block_state(const std::string& text);

class BlockStateFile {
 public:
  // Takes the lock on the resolved path (symbolic links followed), creating
  // the directory if needed, and removes the temporaries of writers killed
  // mid-write. On a read-only filesystem (or one not ours to write) the lock
  // is taken read-only (the existing lock file, or else the directory), so
  // that the blocks are still restored (writable() false). Throws Error: the
  // path names something other than a regular file (a directory, a device),
  // another live sensor holds the lock (naming its pid), or the lock cannot
  // be made.
  explicit BlockStateFile(std::string path);
  ~BlockStateFile();
  BlockStateFile(const BlockStateFile&) = delete;
  BlockStateFile& operator=(const BlockStateFile&) = delete;

  struct Loaded {
    std::vector<BlockRule> rules;  // empty when the file does not exist
    std::string set_aside;         // the file was unreadable or corrupt: where it went
    std::string problem;           // and why
  };
  // Reads the file. An unreadable or corrupt one is moved aside (Loaded says
  // where and why); throws Error when it can be neither read nor moved.
  Loaded load();
  // Writes `rules` in place of the file. Throws Error (the file, the step, the
  // errno text: "write: No space left on device (errno 28)"); the previous
  // file then stays as it was.
  void save(const std::vector<BlockRule>& rules);

  const std::string& path() const { return path_; }
  // Whether the lock file could be opened for writing (false: a read-only
  // filesystem, or no write permission: writes will fail until that changes).
  bool writable() const { return writable_; }
  // Bytes an unprivileged writer may still use on the file's filesystem
  // (its symbolic links followed); 0 when unknown.
  std::uint64_t free_bytes() const;
  // The temporaries of dead writers removed at start (".NAME.XXXXXX").
  std::size_t dead_temporaries() const { return dead_temporaries_; }

 private:
  std::string path_;    // as configured: for messages
  std::string target_;  // symbolic links resolved: locked, read, written
  int lock_fd_ = -1;
  bool writable_ = true;
  std::size_t dead_temporaries_ = 0;
};

}  // namespace sniffer
