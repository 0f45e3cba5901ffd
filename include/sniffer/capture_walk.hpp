// The walk of a directory --read-pcap names: every capture file under it,
// each with the file it is (device and inode) taken from the very lookup
// that judged it.
#pragma once

#include <string>
#include <vector>

#include "sniffer/capture_inputs.hpp"

namespace sniffer {

// Every capture (*.pcap, *.pcapng, *.cap, any case) under `dir`, sorted by
// path, each with the identity of the regular file the walk judged: a name
// made to lead elsewhere after the walk (a FIFO, another user's link renamed
// over it: red team R18-8) is then not that file, and the reader refuses it.
// Symbolic links met: never to a directory, to a file only when the link is
// root's, this user's or the file's owner's; each skipped one told to `warn`.
// Throws Error naming `dir`: it or a directory under it cannot be read, or
// it holds no capture.
std::vector<CaptureInput> captures_under(const std::string& dir, const CaptureInputWarning& warn);

}  // namespace sniffer
