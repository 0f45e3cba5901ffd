// Whether a process runs a sniffer, by its executable: for a lock file others
// could have opened, the holder's uid alone does not say it is a sensor (a
// user may take the lock, then exec a setuid-root program that waits: su at
// its password prompt, red team R18-13).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace sniffer {

// True when process `pid` runs the very file this process runs (a test
// binary's own holders included) or an executable named `sniffer` (another
// install or version, one replaced since it started); false for anything
// else. When its executable cannot be read (another user's, and we are not
// root), its name (/proc/PID/comm: `sniffer` or ours) says, a weaker sign:
// a process's own choice. nullopt when neither can be read (gone, hidden).
std::optional<bool> runs_sniffer(pid_t pid);

// The path of the executable process `pid` runs (" (deleted)" dropped), for
// messages; nullopt when it cannot be read.
std::optional<std::string> executable_path(pid_t pid);

}  // namespace sniffer
