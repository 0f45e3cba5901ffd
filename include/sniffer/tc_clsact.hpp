// The TC fallback for kernels without tcx (< 6.6): a cls_bpf filter of ours
// on a clsact qdisc, at a fixed handle and priority. Other tools share that
// qdisc (tc, Cilium, firewalls, another IDS), so the daemon removes only its
// own filter and leaves the qdisc, also one it created: tc has no
// delete-if-empty, and a filter another tool adds between our check and our
// delete would go with it (an empty clsact qdisc is harmless; tc and Cilium
// leave theirs too). A filter already at our handle is not replaced, unless it
// runs a program of our name that no process holds any more (left by a killed
// sniffer), or `reclaim` (our own filter, replaced by someone else). Both only
// under the hook's lock (an abstract unix socket of the interface's network
// namespace, held with the filter): a live sniffer in another pid namespace,
// invisible in our /proc, holds it, and its filter is never replaced.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sniffer/attach.hpp"

namespace sniffer {

std::unique_ptr<Attachment> attach_clsact(int prog_fd, std::uint32_t ifindex, const std::string& ifname, bool ingress,
                                          bool reclaim);

}  // namespace sniffer
