// Which capabilities this process lacks, to name them when the kernel
// refuses something (the daemon runs as root, or as the service user with
// only the capabilities config/sniffer.service grants).
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace sniffer {

// A capability: its number (linux/capability.h) and name.
using Capability = std::pair<int, const char*>;

inline constexpr Capability kCapBpf{39, "CAP_BPF"};
inline constexpr Capability kCapNetAdmin{12, "CAP_NET_ADMIN"};
inline constexpr Capability kCapPerfmon{38, "CAP_PERFMON"};
inline constexpr Capability kCapDacReadSearch{2, "CAP_DAC_READ_SEARCH"};
inline constexpr Capability kCapSysAdmin{21, "CAP_SYS_ADMIN"};

// The names of those of `wanted` not in this process's effective set
// (/proc/self/status CapEff), "CAP_BPF, CAP_PERFMON"; "" when it has them all.
std::string missing_capabilities(std::initializer_list<Capability> wanted);

// " (running as uid N without CAP_X, CAP_Y: WHY)", or "" when none of
// `wanted` is missing.
std::string missing_capabilities_note(std::initializer_list<Capability> wanted, const std::string& why);

}  // namespace sniffer
