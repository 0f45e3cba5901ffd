// The capture files --read-pcap names, resolved once before anything is read:
// files as given, directories (every *.pcap, *.pcapng, *.cap under them,
// sorted), glob patterns the shell left unexpanded (quoted), and "-" for
// standard input.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sniffer {

// Told each symbolic link a directory's walk skips, in a line naming it.
using CaptureInputWarning = std::function<void(const std::string&)>;

// The files to read, in the order given (a directory's or a pattern's files
// sorted by path). Throws Error naming the argument: no such file, a
// directory without captures, a pattern that matches nothing, a file given
// twice (it would be counted twice), "-" given twice. Names given (files,
// directories, a pattern's matches) are followed if links; in a directory's
// walk, links to directories are not, nor links to files of another user
// than root, this user or the file's owner (`warn` is told of each).
std::vector<std::string> resolve_capture_inputs(const std::vector<std::string>& arguments,
                                                const CaptureInputWarning& warn = nullptr);

}  // namespace sniffer
