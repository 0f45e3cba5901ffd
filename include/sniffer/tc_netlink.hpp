// The clsact qdisc and its filters as netlink dumps (RTM_GETQDISC,
// RTM_GETTFILTER) show them:
// what tc_clsact.cpp needs to know of other tools' filters and of ours,
// without CAP_SYS_ADMIN (a dump needs no privilege).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sniffer {

// Whether `ifindex` has a clsact qdisc (of anyone): 0 or -errno (-ENODEV: no
// interface).
int has_clsact_qdisc(std::uint32_t ifindex, bool& present);

// Counts the filters (of anyone) on the clsact qdisc of `ifindex` in one
// direction, every chain: 0 or -errno (-ENODEV: no interface). Without a
// clsact qdisc the dump is empty: 0 filters.
int count_filters(std::uint32_t ifindex, bool ingress, std::size_t& count);

// The program name of the cls_bpf filter at `handle` and `priority` (its
// TCA_BPF_NAME, "name:[id]" as libbpf sets it, without the id); empty when
// there is none or it cannot be read.
std::string filter_program_name(std::uint32_t ifindex, bool ingress, std::uint32_t handle, std::uint32_t priority);

}  // namespace sniffer
