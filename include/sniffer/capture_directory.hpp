// capture.full_packet_directory as the captures use it: made on first use,
// and shared-locked (flock LOCK_SH on the directory) by every sensor writing
// captures there, for its life. A capture is written under a temporary name
// (".NAME.XXXXXX", output_file.hpp) until it stops; a sensor killed by
// SIGKILL leaves that file behind. At start, a sensor that gets the lock
// exclusively (no other live sensor uses the directory) removes those
// leftovers: only names of that pattern, only regular files (never a link),
// each logged. When another sensor holds the lock, its temporary files may
// be live: nothing is removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sniffer {

class CaptureDirectory {
 public:
  // Locks and cleans the directory if it exists (else at the first
  // prepare()). Never throws: a directory it cannot open is left for
  // prepare() to report.
  explicit CaptureDirectory(std::string path);
  ~CaptureDirectory();
  CaptureDirectory(const CaptureDirectory&) = delete;
  CaptureDirectory& operator=(const CaptureDirectory&) = delete;

  // Before a capture: makes the directory (parents too, the directory
  // itself 0750: the files hold whole packets) and locks it. Throws Error.
  void prepare();

  const std::string& path() const { return path_; }
  // Bytes an unprivileged writer may still use on the directory's filesystem
  // (statvfs f_bavail); none while the directory is not open yet.
  std::optional<std::uint64_t> free_bytes() const;

  // Whether `name` is a capture's temporary file name: "." + a plain file
  // name + "." + 6 letters or digits (mkstemp's XXXXXX).
  static bool temporary_name(const std::string& name);

 private:
  // Opens and locks the directory; cleans it when the lock is exclusive.
  // False when it does not exist.
  bool claim();
  void remove_leftovers();

  std::string path_;
  int fd_ = -1;
};

// A plain file name: no directory, no hidden or temporary name, printable.
bool plain_capture_file_name(const std::string& name);

}  // namespace sniffer
