/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel flow aggregation (flows.aggregation "kernel"): each packet is added
 * to its flow in the "flows" map with the flow logic of sniffer/flow_update.h,
 * and flow records go through the "events" ring. Uses the loader's constants
 * cfg_flow_params and cfg_packet_sample, the replay globals and last_flow_id
 * (sniffer.bpf.c).
 */
#ifndef SNIFFER_FLOWS_BPF_H
#define SNIFFER_FLOWS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "sniffer/flow_update.h"
#include "counters.bpf.h"
#include "record.bpf.h"

/* Kernel flow aggregation: one entry per flow, sized from the config
 * (flows.max_flows; 1 entry when aggregation is in userspace). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* resized by the loader */
	__type(key, struct sniffer_flow_key);
	__type(value, struct sniffer_flow_value);
} flows SEC(".maps");

/* An all-zero value, copied into "flows" to create an entry (too large to
 * build on the stack). Never written. Plain bytes: a helper may not read a
 * value typed with a bpf_spin_lock. */
struct flow_value_bytes {
	__u8 bytes[sizeof(struct sniffer_flow_value)];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_value_bytes);
} flow_blank SEC(".maps");

/* Per-CPU room for the flow record being sent: copied out of the map entry
 * under its lock, sent after unlocking (no helper call may hold the lock). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sniffer_flow_record);
} flow_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNIFFER_MAX_LOCAL_ADDRS);
	__type(key, struct sniffer_local_addr);
	__type(value, __u8);
} local_addrs SEC(".maps");


#define EEXIST 17

/* At TC egress only the host's own packets belong to a flow: a forwarded
 * packet was counted when it entered. */
static __always_inline bool from_local_address(const struct sniffer_record *r)
{
	/* Aligned: the address goes in four words, not sixteen bytes. */
	struct sniffer_local_addr k __attribute__((aligned(8))) = {.ip_version = r->ip_version};
	__builtin_memcpy(k.addr, r->saddr, 16);
	return bpf_map_lookup_elem(&local_addrs, &k) != 0;
}

/* Sends the record in out; a full ring loses it, counted. */
static __always_inline void send_flow(struct sniffer_flow_record *out, int reason, int is_update, __u32 slot)
{
	out->magic = SNIFFER_FLOW_RECORD_MAGIC;
	out->abi_version = SNIFFER_ABI_VERSION;
	out->record_len = sizeof(*out);
	out->end_reason = reason;
	out->is_update = is_update;
	const struct sniffer_flow_key *k = &out->state.key;
	void *ring = events_ring(k->addr_a, k->port_a, k->addr_b, k->port_b, k->l4_proto);
	if (!ring || bpf_ringbuf_output(ring, out, sizeof(*out), wakeup_flag(ring, (sizeof(*out) + 8 + 7) & ~7u, false)))
		stat_add(slot, SNIFFER_STAT_FLOW_RING_FULL, 1);
	else
		stat_add(slot, SNIFFER_STAT_FLOW_RECORDS, 1);
}

static __always_inline __u64 new_flow_id(void)
{
	return __sync_fetch_and_add(&last_flow_id, 1) + 1;
}

/* One packet's arrival at its flow: what starting and adding to it need. */
struct flow_arrival {
	struct sniffer_flow_key key __attribute__((aligned(8))); /* sniffer_flow_key_make's word stores */
	struct sniffer_flow_packet p;
	__u64 now;   /* the packet's time */
	__u64 clock; /* the latest time so far (a capture's clock may step back) */
	int a_to_b;  /* the packet goes from side A to side B */
	int orig_a;  /* a flow this packet starts has its originator on side A */
};

/* Starts a new flow in s with the packet of a (not yet added). */
static __always_inline void start_flow(struct sniffer_flow_state *s, const struct flow_arrival *a,
				       const struct sniffer_record *r, const struct sniffer_flow_params *prm)
{
	sniffer_flow_init(s, &a->key, a->orig_a, new_flow_id(), &a->p, r->ifindex, r->mode, r->is_wan_facing, prm);
}

/* The packet's entry in "flows", created (all zero: not started) when
 * absent; 0 when the map has no room. */
static __always_inline struct sniffer_flow_value *flow_entry(const struct sniffer_flow_key *key)
{
	__u32 zero = 0;
	struct sniffer_flow_value *v = bpf_map_lookup_elem(&flows, key);
	if (!v) {
		struct flow_value_bytes *blank = bpf_map_lookup_elem(&flow_blank, &zero);
		long err = blank ? bpf_map_update_elem(&flows, key, blank, BPF_NOEXIST) : -1;
		if (!err || err == -EEXIST) /* -EEXIST: another CPU created it just now */
			v = bpf_map_lookup_elem(&flows, key);
	}
	return v;
}

/* Adds the packet to the flow in v under its lock. Returns the reason the
 * flow ended before this packet (its record copied into out; the packet
 * starts a new flow), else 0; *update: an update record is due, copied into
 * out. */
static __always_inline int add_to_entry(struct sniffer_flow_value *v, struct sniffer_flow_record *out,
					const struct flow_arrival *a, const struct sniffer_record *r,
					const struct sniffer_flow_params *prm, int *update)
{
	int reason = 0;
	bpf_spin_lock(&v->lock);
	if (v->state.flow_id == 0) {
		start_flow(&v->state, a, r, prm);
	} else {
		reason = sniffer_flow_end_before(&v->state, &a->p, a->clock > a->now ? a->clock : a->now, prm);
		if (reason) {
			__builtin_memcpy(&out->state, &v->state, sizeof(out->state));
			start_flow(&v->state, a, r, prm);
		}
	}
	sniffer_flow_add(&v->state, &a->p, a->a_to_b, prm);
	/* A flow just started is never due for an update: at most one record. */
	if (!reason && sniffer_flow_after_add(&v->state, &a->p, prm)) {
		__builtin_memcpy(&out->state, &v->state, sizeof(out->state));
		v->state.update_count++;
		*update = 1;
	} else if (reason) {
		sniffer_flow_after_add(&v->state, &a->p, prm);
	}
	bpf_spin_unlock(&v->lock);
	return reason;
}

/* Adds the packet in r (fully filled in: time, interface, hook) to its flow
 * in the "flows" map: the flow logic of sniffer/flow_update.h, as the
 * userspace flow table runs it, under the entry's spin lock. Sends a flow
 * record when a flow ends on a packet's arrival (close grace over, idle, a
 * new connection on its 5-tuple), when an update is due (active timeout),
 * and when the map has no room for a new flow. Idle and closed flows that
 * see no more packets are swept out by the daemon. A global function: the
 * verifier checks it once, on its own. */
__noinline int account_flow(struct sniffer_record *r, __u32 slot)
{
	if (!r)
		return 0;
	/* The loader's parameters, read where used (no copy per packet). The
	 * asm hides what prm points to: clang would fold a plain read of the
	 * zero-initialized constant to 0. */
	const struct sniffer_flow_params *prm = (const struct sniffer_flow_params *)&cfg_flow_params;
	asm volatile("" : "+r"(prm));
	struct flow_arrival a; /* every field set below before its use */
	a.now = replay_active ? replay_ts_ns : r->ts_mono_ns;
	a.clock = replay_active ? replay_clock_ns : a.now;
	__u32 wire_len = replay_active ? replay_wire_len : r->wire_len;
	if (!sniffer_flow_packet_of(r, a.now, wire_len, &a.p) ||
	    (r->hook == SNIFFER_HOOK_TC_EGRESS && !from_local_address(r))) {
		stat_add(slot, SNIFFER_STAT_FLOW_SKIPPED, 1);
		return 0;
	}
	a.a_to_b = sniffer_flow_key_make(r->saddr, r->daddr, r->sport, r->dport, r->vlan_count ? r->vlan_ids[0] : 0,
					 r->l4_proto, r->ip_version, &a.key);
	/* The way a flow this packet starts would run (a SYN+ACK's receiver
	 * is the originator). */
	a.orig_a = sniffer_flow_orig_is_a(&a.p, a.a_to_b);
	__u32 zero = 0;
	struct sniffer_flow_record *out = bpf_map_lookup_elem(&flow_out, &zero);
	if (!out)
		return 0;

	struct sniffer_flow_value *v = flow_entry(&a.key);
	if (!v) {
		/* No room: the packet leaves at once, as a one-packet flow. */
		stat_add(slot, SNIFFER_STAT_FLOW_MAP_FULL, 1);
		start_flow(&out->state, &a, r, prm);
		sniffer_flow_add(&out->state, &a.p, a.a_to_b, prm);
		send_flow(out, SNIFFER_FLOW_END_TABLE_FULL, 0, slot);
		stat_add(slot, SNIFFER_STAT_FLOW_PACKETS, 1);
		return 0;
	}

	int update = 0;
	int reason = add_to_entry(v, out, &a, r, prm, &update);
	if (reason)
		send_flow(out, reason, 0, slot);
	else if (update)
		send_flow(out, SNIFFER_FLOW_END_ACTIVE_TIMEOUT, 1, slot);
	stat_add(slot, SNIFFER_STAT_FLOW_PACKETS, 1);
	return 0;
}

/* Kernel aggregation: whether this packet also yields a packet record: its
 * port is one of flows.packet_ports, or it is sampled (1 in N, at random). */
static __always_inline bool wants_record(__u8 rules)
{
	if (rules & SNIFFER_PORT_RECORD)
		return true;
	if (!cfg_packet_sample)
		return false;
	return cfg_packet_sample == 1 || bpf_get_prandom_u32() % cfg_packet_sample == 0;
}


#endif /* SNIFFER_FLOWS_BPF_H */
