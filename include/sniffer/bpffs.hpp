// bpffs, where pinned maps live, and how an operator's shell reaches them.
#pragma once

#include <string>

namespace sniffer {

inline constexpr const char* kBpfFsRoot = "/sys/fs/bpf";

// Whether a bpffs is mounted at /sys/fs/bpf in this mount namespace.
bool bpffs_mounted();

// The command prefix a shell of the host needs to see this process's pins:
// "" in the host's mount namespace; else "nsenter --target PID --mount ", as
// under `ip netns exec`, where iproute2 mounts a new bpffs for each command
// it runs, so another `ip netns exec NS bpftool ...` would see an empty one.
std::string bpffs_shell_prefix();

// The name of this process's network namespace under /run/netns ("" when it
// is not a named one, e.g. the host's).
std::string network_namespace_name();

}  // namespace sniffer
