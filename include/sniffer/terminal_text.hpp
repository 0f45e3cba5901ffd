// Text that came from outside (a peer on the network, a file name another
// user chose) as a terminal or a log may show it.
#pragma once

#include <string>
#include <string_view>

namespace sniffer {

// Printable ASCII kept, every other byte as \xNN (a backslash too, as \x5c,
// so that an escape in the text cannot pass for one of ours): no such text
// can clear the screen, set a window title or print a line of its own.
std::string terminal_text(std::string_view text);

}  // namespace sniffer
