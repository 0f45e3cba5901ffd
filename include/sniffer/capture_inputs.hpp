// The capture files --read-pcap names, resolved once before anything is read:
// files as given, directories (every *.pcap, *.pcapng, *.cap under them,
// sorted), glob patterns the shell left unexpanded (quoted), and "-" for
// standard input.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sniffer/file_identity.hpp"

namespace sniffer {

// An input to read: its name, and the file the name led to when the inputs
// were resolved (none: nothing reachable; a directory's walk: the very file
// it judged, see capture_walk.hpp). Every open of it (the merge's,
// again when it reopens it, a -j worker's) must find that very file: the name
// may lead elsewhere by then (a link put in its place by a user who may
// write into the data set).
struct CaptureInput {
  std::string path;
  std::optional<FileIdentity> identity;
};

// Told each symbolic link a directory's walk skips, each pattern's match that
// is neither a directory nor a regular file (a FIFO: its open would wait),
// and each second name of a file met in a walk or a pattern's matches, in a
// line naming it.
using CaptureInputWarning = std::function<void(const std::string&)>;

// The files to read, in the order given (a directory's or a pattern's files
// sorted by path). A file is what its name leads to (device and inode): a
// second name of it (a hard or symbolic link, another spelling) met in a
// walk or a pattern is skipped (`warn` is told), named twice on the command
// line is an error; each pipe ("-", a `<(...)`) is its own file. Throws Error
// naming the argument: no such file, a directory without captures, a pattern
// that matches no regular file nor directory, a file named twice (it would be counted twice), "-"
// given twice. Names given (files, directories, a pattern's matches) are
// followed if links; in a directory's walk, links to directories are not,
// nor links to files of another user than root, this user or the file's
// owner (`warn` is told of each). Each file comes with what it is (see
// CaptureInput).
std::vector<CaptureInput> resolve_capture_inputs(const std::vector<std::string>& arguments,
                                                 const CaptureInputWarning& warn = nullptr);

}  // namespace sniffer
