/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The "events" ring buffers, one per worker: packet records with their
 * payload snippet (and, through flows.bpf.h and drops.bpf.h, flow and drop
 * records), and the choice of when to wake the reader. Uses the loader's
 * constants cfg_payload_bytes, cfg_wakeup_bytes, cfg_workers and
 * cfg_worker_key (sniffer.bpf.c).
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
 * to one ring (sniffer/worker_shard.h, keyed by cfg_worker_key). The user
 * engine runs one worker. */
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
		__u32 worker = sniffer_worker_of(a, port_a, b, port_b, l4_proto, cfg_workers, cfg_worker_key);
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

/* XDP: n snippet bytes (8 <= n <= area <= SNIFFER_DIRECT_SNIPPET_BYTES)
 * copied straight from the frame's first buffer in 8-byte words, the last
 * word ending at n (it overlaps the one before when n is not a multiple of
 * 8), without bpf_xdp_load_bytes' call: the same bytes. False: not so (a
 * shorter snippet, another hook, a frame whose payload is beyond the first
 * buffer, a larger area), the caller copies with the helper. */
#define SNIFFER_DIRECT_SNIPPET_BYTES 64

/* The words of copy_snippet_direct: checked says that each is first checked
 * against the frame's end (else the caller checked them all at once). */
static __always_inline bool copy_snippet_words(__u8 *src, void *data_end, __u64 n, void *dst, bool checked)
{
#pragma unroll
	for (__u32 i = 0; i < SNIFFER_DIRECT_SNIPPET_BYTES / 8; i++) {
		if (i * 8 + 8 > n)
			break;
		if (checked && (void *)(src + i * 8 + 8) > data_end)
			return false;
		((__u64 *)dst)[i] = *(__u64 *)(src + i * 8);
	}
	if (n % 8) {
		__u64 last = n - 8;
		__u8 *tail = src + last;
		/* check and load through this one pointer (the verifier's range) */
		asm volatile("" : "+r"(tail));
		if ((void *)(tail + 8) > data_end)
			return false;
		*(__u64 *)((__u8 *)dst + last) = *(__u64 *)tail;
	}
	return true;
}

static __always_inline bool copy_snippet_direct(bool is_xdp, void *data, void *data_end, __u32 offset, __u64 n,
						__u32 area, void *dst)
{
	/* offset bounded for the verifier (a payload in the first buffer) */
	if (!is_xdp || n < 8 || n > area || area > SNIFFER_DIRECT_SNIPPET_BYTES || offset > 0x3fff)
		return false;
	__u8 *src = (__u8 *)data + offset;
	/* A frame with the whole area after the payload's start (area is a
	 * constant on each path): one check for every word. */
	if ((void *)(src + area) <= data_end)
		return copy_snippet_words(src, data_end, n, dst, false);
	return copy_snippet_words(src, data_end, n, dst, true);
}

/* Sends rec (fully filled in but for the header and the snippet) with its n
 * snippet bytes in a record whose snippet area is area bytes (n <= area <=
 * cfg_payload_bytes; a constant on each path, for the verifier's reserve);
 * a full ring loses it, counted. */
static __always_inline void send_in_area(void *ctx, bool is_xdp, void *data, void *data_end, void *ring,
					 struct sniffer_record *rec, __u64 n, __u32 area, __u32 slot)
{
#ifdef SNIFFER_USERSPACE
	/* The user engine: rec is the ring's record area already (observe). */
	struct sniffer_record *out = sniffer_user_ringbuf_reserve_at(ring, rec, sizeof(*rec) + area);
#else
	struct sniffer_record *out = bpf_ringbuf_reserve(ring, sizeof(*rec) + area, 0);
#endif
	if (!out) {
		stat_add(slot, SNIFFER_STAT_RINGBUF_FULL, 1);
		return;
	}
	rec->magic = SNIFFER_RECORD_MAGIC;
	rec->abi_version = SNIFFER_ABI_VERSION;
	rec->record_len = sizeof(*rec) + area;

	/* Keep clang from dropping the bound (or checking a 32-bit copy): the
	 * verifier must see it on the register passed to the helper. */
	asm volatile("" : "+r"(n));
	if (n > area || n > SNIFFER_MAX_PAYLOAD_BYTES)
		n = 0;
	if (n && !copy_snippet_direct(is_xdp, data, data_end, rec->payload_offset, n, area, out + 1)) {
		long err = is_xdp ? bpf_xdp_load_bytes(ctx, rec->payload_offset, out + 1, n)
				  : bpf_skb_load_bytes(ctx, rec->payload_offset, out + 1, n);
		if (err)
			n = 0;
	}
	rec->snippet_len = n;
#ifndef SNIFFER_USERSPACE
	__builtin_memcpy(out, rec, sizeof(*rec));
#endif

	/* A ring sample takes its length plus an 8-byte header, rounded up to 8. */
	bpf_ringbuf_submit(out, wakeup_flag(ring, (sizeof(*rec) + area + 8 + 7) & ~7u, true));
	stat_add(slot, SNIFFER_STAT_RECORDS, 1);
}

/* Sends the record in rec (fully filled in but for the header and the
 * snippet) with up to cfg_payload_bytes of its payload; a full ring loses it,
 * counted. ctx is the xdp_md or the __sk_buff; is_xdp selects the helper that
 * copies the payload snippet; [data, data_end) the frame's first buffer.
 * The record's snippet area is the snippet's length rounded up to 8 while
 * that is below SNIFFER_DIRECT_SNIPPET_BYTES and the capacity, else the
 * capacity (abi.h): a short payload takes fewer of the ring's cache lines. */
static __always_inline void send_record(void *ctx, bool is_xdp, void *data, void *data_end,
					struct sniffer_record *rec, __u32 wire_len, __u32 slot)
{
	__u32 cap = cfg_payload_bytes;
	if (cap > SNIFFER_MAX_PAYLOAD_BYTES)
		cap = SNIFFER_MAX_PAYLOAD_BYTES;
	void *ring = events_ring(rec->saddr, rec->sport, rec->daddr, rec->dport, rec->l4_proto);
	if (!ring) {
		stat_add(slot, SNIFFER_STAT_RINGBUF_FULL, 1);
		return;
	}
	__u64 n = cap ? payload_available(rec, wire_len) : 0;
	if (n > cap)
		n = cap;
	__u32 area = (n + 7) & ~7u;
	/* One reservation of a constant size per case (the verifier's rule). */
	switch (area < cap ? area : ~0u) {
	case 0: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 0, slot); break;
	case 8: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 8, slot); break;
	case 16: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 16, slot); break;
	case 24: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 24, slot); break;
	case 32: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 32, slot); break;
	case 40: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 40, slot); break;
	case 48: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 48, slot); break;
	case 56: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, 56, slot); break;
	default: send_in_area(ctx, is_xdp, data, data_end, ring, rec, n, cap, slot); break;
	}
}

#endif /* SNIFFER_RECORD_BPF_H */
