/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The "stats" map: one block of SNIFFER_STAT_* counters per interface slot
 * (slot 0: no configured interface), per CPU; and the protocol class a
 * packet is counted under.
 */
#ifndef SNIFFER_COUNTERS_BPF_H
#define SNIFFER_COUNTERS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "parse.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SNIFFER_MAX_IFACES * SNIFFER_NUM_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_add(__u32 slot, __u32 counter, __u64 value)
{
	__u32 idx = SNIFFER_STAT_INDEX(slot, counter);
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);
	if (c)
		*c += value; /* per-CPU slot: no atomic needed */
}

static __always_inline void stat_set(__u32 slot, __u32 counter, __u64 value)
{
	__u32 idx = SNIFFER_STAT_INDEX(slot, counter);
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);
	if (c)
		*c = value;
}

static __always_inline __u32 protocol_class(const struct sniffer_record *r)
{
	if (r->l4_proto == PROTO_TCP && r->ip_version)
		return SNIFFER_CLASS_TCP;
	if (r->l4_proto == PROTO_UDP && r->ip_version)
		return SNIFFER_CLASS_UDP;
	if ((r->ip_version == 4 && r->l4_proto == PROTO_ICMP) ||
	    (r->ip_version == 6 && r->l4_proto == PROTO_ICMPV6))
		return SNIFFER_CLASS_ICMP;
	return SNIFFER_CLASS_OTHER;
}

#endif /* SNIFFER_COUNTERS_BPF_H */
