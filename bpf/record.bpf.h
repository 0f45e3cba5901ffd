/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The "events" ring buffers, one per worker: packet records with their
 * payload snippet (and, through flows.bpf.h and drops.bpf.h, flow and drop
 * records), and the choice of when to wake the reader. Uses the loader's
 * constants cfg_payload_bytes, cfg_wakeup_bytes and cfg_workers
 * (sniffer.bpf.c).
 */
#ifndef SNIFFER_RECORD_BPF_H
#define SNIFFER_RECORD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "counters.bpf.h"
#include "parse.bpf.h"
#include "sniffer/worker_shard.h"

struct events_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by the loader (capture.ring_buffer_bytes) */
};

/* Worker 0's ring, and the only one with one worker. */
struct events_ring events SEC(".maps");

/* capture.workers: each worker's ring, by worker; the loader creates rings
 * 1.. (of the size of "events") and puts them here. A flow's records all go
 * to one ring (sniffer/worker_shard.h). The user engine runs one worker. */
#ifndef SNIFFER_USERSPACE
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SNIFFER_MAX_WORKERS);
	__type(key, __u32);
	__array(values, struct events_ring);
} event_rings SEC(".maps") = {
	.values = {[0] = &events},
};
#endif

/* The ring of the worker that owns the flow between (a, port_a) and
 * (b, port_b); NULL only if the loader left a worker without a ring. With
 * one worker (a constant) it is "events", without a lookup. */
static __always_inline void *events_ring(const __u8 *a, __u16 port_a, const __u8 *b, __u16 port_b, __u8 l4_proto)
{
#ifndef SNIFFER_USERSPACE
	if (cfg_workers > 1) {
		__u32 worker = sniffer_worker_of(a, port_a, b, port_b, l4_proto, cfg_workers);
		return bpf_map_lookup_elem(&event_rings, &worker);
	}
#else
	(void)a, (void)port_a, (void)b, (void)port_b, (void)l4_proto;
#endif
	return &events;
}

/* Notes the ring's fill for the metrics and chooses the wakeup. With
 * cfg_wakeup_bytes set, only the record that brings the queue across the
 * threshold wakes the reader; the others never do (a reader that fell behind
 * would otherwise be woken, at about 1 us each, by every record). The reader
 * also polls on a timer, so nothing waits longer than its poll interval. */
static __always_inline __u64 wakeup_flag(void *ring, __u32 record_bytes, bool queued_has_record)
{
	__u64 queued = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
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

/* XDP, a whole snippet of cap bytes (a multiple of 8, at most
 * SNIFFER_DIRECT_SNIPPET_BYTES) in the frame's first buffer: copied in
 * 8-byte words straight from the packet, without bpf_xdp_load_bytes' call
 * (the same bytes). False: not so (a shorter payload, another hook, a
 * multi-buffer frame whose payload is beyond the first buffer, another cap),
 * the caller copies with the helper. */
#define SNIFFER_DIRECT_SNIPPET_BYTES 64
static __always_inline bool copy_snippet_direct(bool is_xdp, void *data, void *data_end, __u32 offset, __u32 n,
						__u32 cap, void *dst)
{
	/* offset bounded for the verifier (a payload in the first buffer) */
	if (!is_xdp || n != cap || cap % 8 || cap > SNIFFER_DIRECT_SNIPPET_BYTES || offset > 0x3fff)
		return false;
	__u8 *src = (__u8 *)data + offset;
	if ((void *)(src + SNIFFER_DIRECT_SNIPPET_BYTES) > data_end) /* a constant: the verifier's bound */
		return false;
#pragma unroll
	for (__u32 i = 0; i < SNIFFER_DIRECT_SNIPPET_BYTES / 8; i++) {
		if (i * 8 >= cap)
			break;
		((__u64 *)dst)[i] = *(__u64 *)(src + i * 8);
	}
	return true;
}

/* Sends the record in rec (fully filled in but for the header and the
 * snippet) with up to cfg_payload_bytes of its payload; a full ring loses it,
 * counted. ctx is the xdp_md or the __sk_buff; is_xdp selects the helper that
 * copies the payload snippet; [data, data_end) the frame's first buffer. */
static __always_inline void send_record(void *ctx, bool is_xdp, void *data, void *data_end,
					struct sniffer_record *rec, __u32 wire_len, __u32 slot)
{
	__u32 cap = cfg_payload_bytes;
	if (cap > SNIFFER_MAX_PAYLOAD_BYTES)
		cap = SNIFFER_MAX_PAYLOAD_BYTES;
	void *ring = events_ring(rec->saddr, rec->sport, rec->daddr, rec->dport, rec->l4_proto);
	struct sniffer_record *out = ring ? bpf_ringbuf_reserve(ring, sizeof(*rec) + cap, 0) : 0;
	if (!out) {
		stat_add(slot, SNIFFER_STAT_RINGBUF_FULL, 1);
		return;
	}

	rec->magic = SNIFFER_RECORD_MAGIC;
	rec->abi_version = SNIFFER_ABI_VERSION;
	rec->record_len = sizeof(*rec) + cap;

	__u64 n = 0;
	if (cap) {
		n = payload_available(rec, wire_len);
		if (n > cap)
			n = cap;
		/* Keep clang from checking a copy: the verifier must see the
		 * bound on the register passed to the helper. */
		asm volatile("" : "+r"(n));
		if (copy_snippet_direct(is_xdp, data, data_end, rec->payload_offset, n, cap, out + 1)) {
		} else if (n > 0 && n <= SNIFFER_MAX_PAYLOAD_BYTES && n <= cap) {
			long err = is_xdp ? bpf_xdp_load_bytes(ctx, rec->payload_offset, out + 1, n)
					  : bpf_skb_load_bytes(ctx, rec->payload_offset, out + 1, n);
			if (err)
				n = 0;
		} else {
			n = 0;
		}
	}
	rec->snippet_len = n;
	__builtin_memcpy(out, rec, sizeof(*rec));

	/* A ring sample takes its length plus an 8-byte header, rounded up to 8. */
	bpf_ringbuf_submit(out, wakeup_flag(ring, (rec->record_len + 8 + 7) & ~7u, true));
	stat_add(slot, SNIFFER_STAT_RECORDS, 1);
}

#endif /* SNIFFER_RECORD_BPF_H */
