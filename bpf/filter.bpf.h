/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The capture filter: a default action and per-port rules (include,
 * exclude, and under kernel flow aggregation "record": always a packet
 * record). Decides which packets yield a record; never drops one.
 */
#ifndef SNIFFER_FILTER_BPF_H
#define SNIFFER_FILTER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sniffer_filter_settings);
} filter_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNIFFER_MAX_PORT_FILTERS);
	__type(key, __u16);
	__type(value, __u8);
} port_filters SEC(".maps");

/* The port's rule bits: looked up only when fs->port_bits says it has a rule. */
static __always_inline __u8 port_rule(const struct sniffer_filter_settings *fs, __u16 port)
{
	if (!(fs->port_bits[port / 64] & (1ull << (port % 64))))
		return 0;
	__u8 *rule = bpf_map_lookup_elem(&port_filters, &port);
	return rule ? *rule : 0;
}

/* The SNIFFER_PORT_* bits of the packet's source and destination ports,
 * looked up once for the filter and for kernel aggregation's packet_ports. */
static __always_inline __u8 port_rules(const struct sniffer_filter_settings *fs, const struct sniffer_record *r)
{
	if (!fs || !fs->has_port_rules || (!r->sport && !r->dport))
		return 0;
	return port_rule(fs, r->sport) | port_rule(fs, r->dport);
}

/* Include wins, then exclude, then the default action (capture without
 * settings). */
static __always_inline bool filter_allows(const struct sniffer_filter_settings *fs, __u8 rules)
{
	if (rules & SNIFFER_PORT_INCLUDE)
		return true;
	if (rules & SNIFFER_PORT_EXCLUDE)
		return false;
	return !fs || fs->default_action != SNIFFER_ACTION_SKIP;
}

#endif /* SNIFFER_FILTER_BPF_H */
