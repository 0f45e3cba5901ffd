/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Prevention: the blocklist's LPM tries (block by source or destination,
 * and the allowlist that overrides them) and the verdict for a packet. Only
 * the ingress hooks of an interface with the blocklist enabled ask.
 */
#ifndef SNIFFER_BLOCKLIST_BPF_H
#define SNIFFER_BLOCKLIST_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "counters.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sniffer_block_settings);
} block_settings SEC(".maps");

/* LPM tries: sized from the config before load (blocklist.max_entries). */
#define LPM_MAP(name, key_type, value_type)                \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);       \
		__uint(max_entries, 1); /* resized */      \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, key_type);                     \
		__type(value, value_type);                 \
	} name SEC(".maps")

LPM_MAP(block_src_v4, struct sniffer_lpm_v4, struct sniffer_block_entry);
LPM_MAP(block_src_v6, struct sniffer_lpm_v6, struct sniffer_block_entry);
LPM_MAP(block_dst_v4, struct sniffer_lpm_v4, struct sniffer_block_entry);
LPM_MAP(block_dst_v6, struct sniffer_lpm_v6, struct sniffer_block_entry);
LPM_MAP(allow_v4, struct sniffer_lpm_v4, struct sniffer_allow_entry);
LPM_MAP(allow_v6, struct sniffer_lpm_v6, struct sniffer_allow_entry);

/* Looks addr up in an allow or block trie of its family. */
static __always_inline void *lpm_lookup(void *v4_map, void *v6_map, const struct sniffer_record *r,
					const __u8 *addr)
{
	if (r->ip_version == 4) {
		struct sniffer_lpm_v4 k = {.prefixlen = 32};
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(v4_map, &k);
	}
	struct sniffer_lpm_v6 k = {.prefixlen = 128};
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(v6_map, &k);
}

/* The entry that applies: none for an exemption (the sensor's own address:
 * the next lookup still runs) or an entry that has expired (ignored at once;
 * the daemon removes it). */
static __always_inline struct sniffer_block_entry *live_entry(struct sniffer_block_entry *e)
{
	if (!e)
		return 0;
	if (e->action == SNIFFER_BLOCK_EXEMPT) {
		__sync_fetch_and_add(&e->hits, 1);
		return 0;
	}
	if (e->expires_ns && bpf_ktime_get_ns() >= e->expires_ns)
		return 0;
	return e;
}

/* The blocklist verdict for a parsed packet (SNIFFER_VERDICT_*); notes the
 * rule in the record and counts the match. A global function: verified once,
 * on its own, so it adds nothing to the parser's paths. */
__noinline int block_verdict(struct sniffer_record *r, __u32 slot)
{
	if (!r || (r->ip_version != 4 && r->ip_version != 6))
		return SNIFFER_VERDICT_PASS;
	/* Addresses are valid once the IP header was read (see parse.bpf.h). */
	if (!r->ip_total_len && !r->l3_hdr_len)
		return SNIFFER_VERDICT_PASS;
	__u32 zero = 0;
	struct sniffer_block_settings *bs = bpf_map_lookup_elem(&block_settings, &zero);
	if (!bs || !bs->active)
		return SNIFFER_VERDICT_PASS;

	struct sniffer_allow_entry *a = lpm_lookup(&allow_v4, &allow_v6, r, r->saddr);
	if (!a)
		a = lpm_lookup(&allow_v4, &allow_v6, r, r->daddr);
	if (a) {
		__sync_fetch_and_add(&a->hits, 1);
		stat_add(slot, SNIFFER_STAT_ALLOWED, 1);
		return SNIFFER_VERDICT_PASS;
	}

	struct sniffer_block_entry *e = live_entry(lpm_lookup(&block_src_v4, &block_src_v6, r, r->saddr));
	if (!e && bs->has_dst_rules)
		e = live_entry(lpm_lookup(&block_dst_v4, &block_dst_v6, r, r->daddr));
	if (!e)
		return SNIFFER_VERDICT_PASS;
	__sync_fetch_and_add(&e->hits, 1);
	r->block_rule_id = e->rule_id;
	if (e->action == SNIFFER_BLOCK_DROP && !bs->monitor_only) {
		stat_add(slot, SNIFFER_STAT_BLOCKED, 1);
		return SNIFFER_VERDICT_BLOCKED;
	}
	stat_add(slot, SNIFFER_STAT_BLOCK_MONITORED, 1);
	return SNIFFER_VERDICT_MONITORED;
}

/* Whether a blocked packet still yields a record (block_settings). */
static __always_inline bool record_dropped(void)
{
	__u32 zero = 0;
	struct sniffer_block_settings *bs = bpf_map_lookup_elem(&block_settings, &zero);
	return bs && bs->record_dropped;
}

#endif /* SNIFFER_BLOCKLIST_BPF_H */
