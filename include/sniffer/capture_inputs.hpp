// The capture files --read-pcap names, resolved once before anything is read:
// files as given, directories (every *.pcap, *.pcapng, *.cap under them,
// sorted), glob patterns the shell left unexpanded (quoted), and "-" for
// standard input.
#pragma once

#include <string>
#include <vector>

namespace sniffer {

// The files to read, in the order given (a directory's or a pattern's files
// sorted by path). Throws Error naming the argument: no such file, a
// directory without captures, a pattern that matches nothing, a file given
// twice (it would be counted twice), "-" given twice.
std::vector<std::string> resolve_capture_inputs(const std::vector<std::string>& arguments);

}  // namespace sniffer
