// The clsact qdisc's filters as a netlink dump (RTM_GETTFILTER) shows them:
// what tc_clsact.cpp needs to know of other tools' filters and of ours,
// without CAP_SYS_ADMIN (a dump needs no privilege).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sniffer {

// Counts the filters (of anyone) on the clsact qdisc of `ifindex` in one
// direction, every chain: 0 or -errno (-EINVAL, -ENOENT: no clsact qdisc
// there; -ENODEV: no interface).
int count_filters(std::uint32_t ifindex, bool ingress, std::size_t& count);

// The program name of the cls_bpf filter at `handle` and `priority` (its
// TCA_BPF_NAME, "name:[id]" as libbpf sets it, without the id); empty when
// there is none or it cannot be read.
std::string filter_program_name(std::uint32_t ifindex, bool ingress, std::uint32_t handle, std::uint32_t priority);

}  // namespace sniffer
