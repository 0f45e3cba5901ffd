// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sniffer's kernel side: an XDP ingress program and TC ingress/egress
 * programs that parse each packet on a configured interface, count it, and
 * emit one fixed-layout record through the "events" ring buffer; with kernel
 * flow aggregation, they add it to its flow in the "flows" map instead and
 * emit flow records (packet records then only 1 in N). Every
 * program passes every packet, except on ingress of an interface with the
 * blocklist enabled, where a packet from (or to) a blocked prefix is dropped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "sniffer/flow_update.h"
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader between open and load (frozen .rodata: the verifier
 * sees them as constants, so the ring reservation size is a constant). */
const volatile __u32 cfg_payload_bytes = 0; /* snippet capacity, <= SNIFFER_MAX_PAYLOAD_BYTES */
const volatile __u64 cfg_wakeup_bytes = 0;  /* 0: wake the reader per record */
const volatile __u8 cfg_flow_kernel = 0;    /* 1: aggregate flows here (flows.aggregation "kernel") */
const volatile __u32 cfg_packet_sample = 0; /* then 1 in N packets also yields a packet record; 0: none */
const volatile struct sniffer_flow_params cfg_flow_params = {};

/* Offline replay (--read-pcap) writes these before each run of a captured
 * packet: its capture time and original length, which the flows then use,
 * and the latest capture time so far (a capture's clock may step back).
 * replay_active is 0 when live. */
__u64 replay_ts_ns = 0;
__u64 replay_clock_ns = 0;
__u32 replay_wire_len = 0;
__u8 replay_active = 0;
/* The last flow id handed out (ids start at 1; 0 marks an unstarted entry). */
__u64 last_flow_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNIFFER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct sniffer_iface_config);
} iface_configs SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by the loader (capture.ring_buffer_bytes) */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SNIFFER_MAX_IFACES * SNIFFER_NUM_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sniffer_block_settings);
} block_settings SEC(".maps");

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

static __always_inline __u8 port_rule(__u16 port)
{
	__u8 *rule = bpf_map_lookup_elem(&port_filters, &port);
	return rule ? *rule : 0;
}

/* The SNIFFER_PORT_* bits of the packet's source and destination ports,
 * looked up once for the filter and for kernel aggregation's packet_ports. */
static __always_inline __u8 port_rules(const struct sniffer_filter_settings *fs, const struct sniffer_record *r)
{
	if (!fs || !fs->has_port_rules || (!r->sport && !r->dport))
		return 0;
	return port_rule(r->sport) | port_rule(r->dport);
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

/* Notes the ring's fill for the metrics and chooses the wakeup. With
 * cfg_wakeup_bytes set, only the record that brings the queue across the
 * threshold wakes the reader; the others never do (a reader that fell behind
 * would otherwise be woken, at about 1 us each, by every record). The reader
 * also polls on a timer, so nothing waits longer than its poll interval. */
static __always_inline __u64 wakeup_flag(__u32 record_bytes, bool queued_has_record)
{
	__u64 queued = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	stat_set(0, SNIFFER_STAT_RING_FILL, queued);
	if (!cfg_wakeup_bytes)
		return 0;
	/* A reserved record counts in queued already (it is committed when we
	 * submit); one sent by bpf_ringbuf_output does not yet. */
	if (!queued_has_record)
		queued += record_bytes;
	return queued >= cfg_wakeup_bytes && queued < cfg_wakeup_bytes + record_bytes ? BPF_RB_FORCE_WAKEUP
										    : BPF_RB_NO_WAKEUP;
}

/* Bytes of L4 payload present in the frame (Ethernet padding excluded). */
static __always_inline __u32 payload_available(const struct sniffer_record *r, __u32 wire_len)
{
	if (!r->payload_offset)
		return 0;
	__u32 end = wire_len;
	__u32 l3_start = sniffer_l3_offset(r);
	if (r->ip_total_len && l3_start + r->ip_total_len < end)
		end = l3_start + r->ip_total_len;
	return end > r->payload_offset ? end - r->payload_offset : 0;
}

/* Checks the parse against the IP length field, after the parser:
 * - a length reaching beyond the frame (a forged length; a frame cut short is
 *   already TRUNCATED), or an IPv6 payload length of 0 that no hop-by-hop
 *   header explains (RFC 2675 jumbograms carry one), is flagged BAD_LENGTH;
 * - an L4 header crossing the datagram's end (a tiny fragment) is cut: the
 *   frame's bytes after the datagram are Ethernet padding, not header, so the
 *   fields read from them are cleared and the record is flagged TRUNCATED.
 * A length shorter than the frame is padding: normal.
 * A global function: the verifier checks it once, on its own, and forgets at
 * the call what it knew of the record's fields. Inlined, it multiplied the
 * parser's paths past the verifier's 1M-instruction budget. */
__noinline int check_ip_length(struct sniffer_record *r, __u32 wire_len, __u32 frame_len)
{
	if (!r)
		return 0;
	if (r->ip_version == 4 && r->l3_hdr_len && r->ip_total_len == 0) {
		/* A TSO capture: the NIC fills the length in later. The frame's
		 * own length (the original one, offline) stands in for it. */
		__u32 l3 = sniffer_l3_offset(r);
		__u32 len = frame_len > l3 ? frame_len - l3 : 0;
		r->ip_total_len = len > 0xffff ? 0xffff : len;
		r->parse_flags |= SNIFFER_PARSE_IP_LEN_FROM_FRAME;
		return 0;
	}
	if (!r->ip_version || !r->l3_hdr_len || r->ip_total_len < r->l3_hdr_len ||
	    (r->parse_flags & (SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_EXTHDR_LIMIT)))
		return 0;
	__u32 l3_start = sniffer_l3_offset(r);
	__u32 ip_end = l3_start + r->ip_total_len;
	if (ip_end > wire_len) {
		r->parse_flags |= SNIFFER_PARSE_BAD_LENGTH;
		return 0;
	}
	if (r->ip_version == 6 && r->ip_total_len == sizeof(struct ipv6hdr)) {
		if (r->l3_hdr_len == sizeof(struct ipv6hdr) && wire_len > ip_end)
			r->parse_flags |= SNIFFER_PARSE_BAD_LENGTH;
		return 0; /* length 0: no bound to check the L4 header against */
	}
	if (r->frag_flags & SNIFFER_FRAG_NOT_FIRST)
		return 0; /* no L4 header was parsed */
	__u32 l4_start = l3_start + r->l3_hdr_len;
	__u32 need = 0;
	if (r->l4_proto == PROTO_TCP)
		need = r->l4_hdr_len > sizeof(struct tcphdr) ? r->l4_hdr_len : sizeof(struct tcphdr);
	else if (r->l4_proto == PROTO_UDP || r->l4_proto == PROTO_ICMP || r->l4_proto == PROTO_ICMPV6)
		need = 8;
	if (l4_start + need <= ip_end)
		return 0;
	/* A MALFORMED left here came from the L4 header, i.e. from the padding. */
	r->parse_flags = (r->parse_flags & ~SNIFFER_PARSE_MALFORMED) | SNIFFER_PARSE_TRUNCATED;
	if (l4_start + 4 > ip_end)
		r->sport = r->dport = 0;
	if (l4_start + 2 > ip_end)
		r->icmp_type = r->icmp_code = 0;
	r->l4_hdr_len = 0;
	r->tcp_flags = 0;
	r->tcp_window = 0;
	r->tcp_seq = 0;
	r->tcp_ack = 0;
	r->payload_offset = 0;
	return 0;
}

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

/* An entry that has expired is ignored at once; the daemon removes it. */
static __always_inline struct sniffer_block_entry *live_entry(struct sniffer_block_entry *e)
{
	if (e && e->expires_ns && bpf_ktime_get_ns() >= e->expires_ns)
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

/* ---- kernel flow aggregation ---- */

#define EEXIST 17

/* At TC egress only the host's own packets belong to a flow: a forwarded
 * packet was counted when it entered. */
static __always_inline bool from_local_address(const struct sniffer_record *r)
{
	struct sniffer_local_addr k = {.ip_version = r->ip_version};
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
	if (bpf_ringbuf_output(&events, out, sizeof(*out), wakeup_flag((sizeof(*out) + 8 + 7) & ~7u, false)))
		stat_add(slot, SNIFFER_STAT_FLOW_RING_FULL, 1);
	else
		stat_add(slot, SNIFFER_STAT_FLOW_RECORDS, 1);
}

static __always_inline __u64 new_flow_id(void)
{
	return __sync_fetch_and_add(&last_flow_id, 1) + 1;
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
	/* Read through the volatile: clang would fold a plain read of the
	 * zero-initialized constant to 0. */
	const struct sniffer_flow_params params = {
		.idle_timeout_ns = cfg_flow_params.idle_timeout_ns,
		.active_timeout_ns = cfg_flow_params.active_timeout_ns,
		.tcp_close_grace_ns = cfg_flow_params.tcp_close_grace_ns,
		.activity_timeout_ns = cfg_flow_params.activity_timeout_ns,
		.subflow_gap_ns = cfg_flow_params.subflow_gap_ns,
		.bulk_gap_ns = cfg_flow_params.bulk_gap_ns,
	};
	const struct sniffer_flow_params *prm = &params;
	__u64 now = replay_active ? replay_ts_ns : r->ts_mono_ns;
	__u64 clock = replay_active ? replay_clock_ns : now;
	__u32 wire_len = replay_active ? replay_wire_len : r->wire_len;
	struct sniffer_flow_packet p = {};
	if (!sniffer_flow_packet_of(r, now, wire_len, &p) ||
	    (r->hook == SNIFFER_HOOK_TC_EGRESS && !from_local_address(r))) {
		stat_add(slot, SNIFFER_STAT_FLOW_SKIPPED, 1);
		return 0;
	}
	struct sniffer_flow_key key = {};
	int a_to_b = sniffer_flow_key_make(r->saddr, r->daddr, r->sport, r->dport, r->vlan_count ? r->vlan_ids[0] : 0,
					   r->l4_proto, r->ip_version, &key);
	/* The way a flow this packet starts would run (a SYN+ACK's receiver
	 * is the originator). */
	int orig_a = sniffer_flow_orig_is_a(&p, a_to_b);
	__u32 zero = 0;
	struct sniffer_flow_record *out = bpf_map_lookup_elem(&flow_out, &zero);
	if (!out)
		return 0;

	struct sniffer_flow_value *v = bpf_map_lookup_elem(&flows, &key);
	if (!v) {
		struct flow_value_bytes *blank = bpf_map_lookup_elem(&flow_blank, &zero);
		long err = blank ? bpf_map_update_elem(&flows, &key, blank, BPF_NOEXIST) : -1;
		if (!err || err == -EEXIST) /* -EEXIST: another CPU created it just now */
			v = bpf_map_lookup_elem(&flows, &key);
	}
	if (!v) {
		/* No room: the packet leaves at once, as a one-packet flow. */
		stat_add(slot, SNIFFER_STAT_FLOW_MAP_FULL, 1);
		sniffer_flow_init(&out->state, &key, orig_a, new_flow_id(), now, r->ifindex, r->mode, r->is_wan_facing,
				  prm);
		sniffer_flow_add(&out->state, &p, a_to_b, prm);
		send_flow(out, SNIFFER_FLOW_END_TABLE_FULL, 0, slot);
		stat_add(slot, SNIFFER_STAT_FLOW_PACKETS, 1);
		return 0;
	}

	int reason = 0, update = 0;
	bpf_spin_lock(&v->lock);
	if (v->state.flow_id == 0) {
		sniffer_flow_init(&v->state, &key, orig_a, new_flow_id(), now, r->ifindex, r->mode, r->is_wan_facing, prm);
	} else {
		reason = sniffer_flow_end_before(&v->state, &p, clock > now ? clock : now, prm);
		if (reason) {
			__builtin_memcpy(&out->state, &v->state, sizeof(out->state));
			sniffer_flow_init(&v->state, &key, orig_a, new_flow_id(), now, r->ifindex, r->mode,
					  r->is_wan_facing, prm);
		}
	}
	sniffer_flow_add(&v->state, &p, a_to_b, prm);
	/* A flow just started is never due for an update: at most one record. */
	if (!reason && sniffer_flow_after_add(&v->state, &p, prm)) {
		__builtin_memcpy(&out->state, &v->state, sizeof(out->state));
		v->state.update_count++;
		update = 1;
	} else if (reason) {
		sniffer_flow_after_add(&v->state, &p, prm);
	}
	bpf_spin_unlock(&v->lock);

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

/*
 * The whole per-packet path, shared by every hook. ctx is the xdp_md or the
 * __sk_buff; is_xdp selects the helper that copies the payload snippet.
 * Returns the verdict: SNIFFER_VERDICT_BLOCKED means drop the packet.
 */
static __always_inline int observe(void *ctx, bool is_xdp, void *data, void *data_end,
				   __u32 ifindex, __u32 wire_len, __u8 hook)
{
	struct sniffer_iface_config *cfg = bpf_map_lookup_elem(&iface_configs, &ifindex);
	if (!cfg) {
		stat_add(0, SNIFFER_STAT_UNCONFIGURED, 1);
		return SNIFFER_VERDICT_PASS;
	}
	__u32 slot = cfg->stats_slot;

	struct sniffer_record rec = {};
	parse_packet(data, data_end, &rec);
	/* Offline, the frame's original length (the capture may have cut it). */
	check_ip_length(&rec, wire_len, replay_active && replay_wire_len ? replay_wire_len : wire_len);
	int verdict = SNIFFER_VERDICT_PASS;
	if (cfg->blocklist && hook != SNIFFER_HOOK_TC_EGRESS)
		verdict = block_verdict(&rec, slot);
	rec.verdict = verdict;

	__u32 cls = protocol_class(&rec);
	stat_add(slot, SNIFFER_STAT_PACKETS(hook, cls), 1);
	stat_add(slot, SNIFFER_STAT_BYTES(hook, cls), wire_len);
	if (rec.parse_flags)
		stat_add(slot, SNIFFER_STAT_PARSE_ERROR, 1);
	if (verdict == SNIFFER_VERDICT_BLOCKED && !record_dropped()) {
		stat_add(slot, SNIFFER_STAT_BLOCKED_UNRECORDED, 1);
		return verdict;
	}
	__u32 zero = 0;
	struct sniffer_filter_settings *fs = bpf_map_lookup_elem(&filter_settings, &zero);
	__u8 rules = port_rules(fs, &rec);
	if (!filter_allows(fs, rules)) {
		stat_add(slot, SNIFFER_STAT_FILTERED, 1);
		return verdict;
	}

	rec.ts_mono_ns = bpf_ktime_get_ns();
	rec.ifindex = ifindex;
	rec.wire_len = wire_len;
	rec.hook = hook;
	rec.mode = cfg->mode;
	rec.is_wan_facing = cfg->is_wan_facing;
	if (cfg_flow_kernel) {
		account_flow(&rec, slot);
		if (!wants_record(rules)) {
			stat_add(slot, SNIFFER_STAT_SAMPLED_OUT, 1);
			return verdict;
		}
	}

	__u32 cap = cfg_payload_bytes;
	if (cap > SNIFFER_MAX_PAYLOAD_BYTES)
		cap = SNIFFER_MAX_PAYLOAD_BYTES;
	struct sniffer_record *out = bpf_ringbuf_reserve(&events, sizeof(rec) + cap, 0);
	if (!out) {
		stat_add(slot, SNIFFER_STAT_RINGBUF_FULL, 1);
		return verdict;
	}

	rec.magic = SNIFFER_RECORD_MAGIC;
	rec.abi_version = SNIFFER_ABI_VERSION;
	rec.record_len = sizeof(rec) + cap;

	__u64 n = 0;
	if (cap) {
		n = payload_available(&rec, wire_len);
		if (n > cap)
			n = cap;
		/* Keep clang from checking a copy: the verifier must see the
		 * bound on the register passed to the helper. */
		asm volatile("" : "+r"(n));
		if (n > 0 && n <= SNIFFER_MAX_PAYLOAD_BYTES && n <= cap) {
			long err = is_xdp ? bpf_xdp_load_bytes(ctx, rec.payload_offset, out + 1, n)
					  : bpf_skb_load_bytes(ctx, rec.payload_offset, out + 1, n);
			if (err)
				n = 0;
		} else {
			n = 0;
		}
	}
	rec.snippet_len = n;
	__builtin_memcpy(out, &rec, sizeof(rec));

	/* A ring sample takes its length plus an 8-byte header, rounded up to 8. */
	bpf_ringbuf_submit(out, wakeup_flag((rec.record_len + 8 + 7) & ~7u, true));
	stat_add(slot, SNIFFER_STAT_RECORDS, 1);
	return verdict;
}

/* xdp.frags: the program accepts multi-buffer frames (jumbo frames, and
 * large frames replayed from captures through BPF_PROG_TEST_RUN). Headers
 * are parsed in the first buffer; the wire length counts every buffer and
 * bpf_xdp_load_bytes reads the snippet across them. */
SEC("xdp.frags")
int sniffer_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int verdict = observe(ctx, true, data, data_end, ctx->ingress_ifindex,
			      bpf_xdp_get_buff_len(ctx), SNIFFER_HOOK_XDP_INGRESS);
	return verdict == SNIFFER_VERDICT_BLOCKED ? XDP_DROP : XDP_PASS;
}

/* Header bytes the parser wants in the linear area of an skb. */
#define TC_PULL_BYTES 128

/* Makes the first TC_PULL_BYTES of the frame linear when they are not
 * (rare: it may copy a cloned skb's head). A separate function, so that
 * clang cannot reuse ctx field addresses across the pull. */
static __noinline int ensure_headers_linear(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 linear = skb->data_end - skb->data;
	if (linear < TC_PULL_BYTES && len > linear)
		bpf_skb_pull_data(skb, len < TC_PULL_BYTES ? len : TC_PULL_BYTES);
	return 0;
}

/* TC programs return TC_ACT_UNSPEC (-1): "continue", which is also TCX_NEXT,
 * so programs attached after ours still run and the packet passes; a blocked
 * packet gets TC_ACT_SHOT (2). */
#define SNIFFER_TC_CONTINUE (-1)
#define SNIFFER_TC_SHOT 2

static __always_inline int observe_skb(struct __sk_buff *skb, __u8 hook)
{
	ensure_headers_linear(skb);
	int verdict = observe(skb, false, (void *)(long)skb->data, (void *)(long)skb->data_end,
			      skb->ifindex, skb->len, hook);
	return verdict == SNIFFER_VERDICT_BLOCKED ? SNIFFER_TC_SHOT : SNIFFER_TC_CONTINUE;
}

SEC("tc")
int sniffer_tc_in(struct __sk_buff *skb)
{
	return observe_skb(skb, SNIFFER_HOOK_TC_INGRESS);
}

SEC("tc")
int sniffer_tc_eg(struct __sk_buff *skb)
{
	return observe_skb(skb, SNIFFER_HOOK_TC_EGRESS);
}
