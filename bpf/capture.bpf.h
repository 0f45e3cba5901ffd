/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Full-packet capture on demand: the frames of packets that match an active
 * capture slot are copied into the "captures" ring (abi.h: capture_slots,
 * capture_counts, struct sniffer_capture_record). Capture never changes a
 * verdict: what the ring cannot take is counted per capture and interface.
 *
 * capture_emit() copies any byte range of the frame into one record, so a
 * later producer (the first payload bytes of a flow's opening packets, for
 * DNS, TLS and HTTP metadata) reuses the ring, the record and the reader with
 * its own source value and offset instead of a path of its own.
 */
#ifndef SNIFFER_CAPTURE_BPF_H
#define SNIFFER_CAPTURE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"

/* Bit i: capture slot i runs. Written by the daemon (mmapped .bss). */
__u32 capture_active = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SNIFFER_MAX_CAPTURES);
	__type(key, __u32);
	__type(value, struct sniffer_capture_filter);
} capture_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SNIFFER_MAX_CAPTURES * SNIFFER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct sniffer_capture_counts);
} capture_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by the loader (capture.full_packet_ring_bytes) */
} captures SEC(".maps");

/* The record being built: bpf_ringbuf_reserve needs a constant size, and a
 * frame's is not, so the copy goes here first and bpf_ringbuf_output sends
 * only header + cap_len bytes. The matching slots and their largest snap
 * length are gathered here too, not on the stack: a value in a map does not
 * multiply the verifier's states by every combination of slots. */
struct capture_buffer {
	struct sniffer_capture_record hdr;
	__u8 data[SNIFFER_CAPTURE_MAX_BYTES];
	__u32 snaplen;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_buffer);
} capture_buf SEC(".maps");

static __always_inline bool capture_side_matches(const struct sniffer_capture_side *side, const __u8 *addr,
						 __u16 port)
{
	if (side->port && side->port != port)
		return false;
	const __u32 *a = (const __u32 *)addr, *net = (const __u32 *)side->addr, *mask = (const __u32 *)side->mask;
	for (int i = 0; i < 4; i++)
		if ((a[i] & mask[i]) != net[i])
			return false;
	return true;
}

/* A function of its own (a BPF-to-BPF call): one copy of the comparisons,
 * whatever the number of slots. */
static __noinline int capture_matches(const struct sniffer_capture_filter *f, const struct sniffer_record *r,
				      __u32 ifindex)
{
	if ((f->ifindex && f->ifindex != ifindex) || (f->ip_version && f->ip_version != r->ip_version) ||
	    (f->l4_proto && f->l4_proto != r->l4_proto))
		return 0;
	return (capture_side_matches(&f->a, r->saddr, r->sport) && capture_side_matches(&f->b, r->daddr, r->dport)) ||
	       (capture_side_matches(&f->a, r->daddr, r->dport) && capture_side_matches(&f->b, r->saddr, r->sport));
}

static __always_inline void capture_count(__u32 slots, __u32 iface_slot, bool lost)
{
	for (__u32 i = 0; i < SNIFFER_MAX_CAPTURES; i++) {
		if (!(slots & (1u << i)))
			continue;
		__u32 key = SNIFFER_CAPTURE_COUNT_INDEX(i, iface_slot);
		struct sniffer_capture_counts *c = bpf_map_lookup_elem(&capture_counts, &key);
		if (!c)
			continue;
		c->matched++; /* per-CPU: no atomic needed */
		if (lost)
			c->ring_full++;
	}
}

/* Copies len bytes of the frame from offset on (at most
 * SNIFFER_CAPTURE_MAX_BYTES, the rest cut and flagged) after buf->hdr (its
 * other fields filled in by the caller) and sends the record to "captures".
 * Returns false when the ring had no room (or the copy failed). */
static __always_inline bool capture_emit(void *ctx, bool is_xdp, struct capture_buffer *buf, __u32 offset, __u32 len)
{
	__u64 n = len;
	if (n > SNIFFER_CAPTURE_MAX_BYTES) {
		n = SNIFFER_CAPTURE_MAX_BYTES;
		buf->hdr.flags |= SNIFFER_CAPTURE_CUT_RECORD;
	}
	/* Keep clang from checking a copy: the verifier must see the bound on
	 * the register passed to the helper. */
	asm volatile("" : "+r"(n));
	if (n == 0 || n > SNIFFER_CAPTURE_MAX_BYTES)
		return false;
	long err = is_xdp ? bpf_xdp_load_bytes(ctx, offset, buf->data, n) : bpf_skb_load_bytes(ctx, offset, buf->data, n);
	if (err)
		return false;
	buf->hdr.magic = SNIFFER_CAPTURE_RECORD_MAGIC;
	buf->hdr.abi_version = SNIFFER_ABI_VERSION;
	buf->hdr.cap_len = n;
	buf->hdr.data_offset = offset;
	/* No wakeup: the daemon drains this ring on its loop's every turn. */
	return bpf_ringbuf_output(&captures, buf, sizeof(buf->hdr) + n, BPF_RB_NO_WAKEUP) == 0;
}

/* The on-demand captures: called only while capture_active is not 0. */
static __always_inline void capture_packet(void *ctx, bool is_xdp, const struct sniffer_record *r, __u32 ifindex,
					   __u32 wire_len, __u8 hook, __u32 iface_slot)
{
	__u32 zero = 0;
	struct capture_buffer *buf = bpf_map_lookup_elem(&capture_buf, &zero);
	if (!buf)
		return;
	__u32 active = capture_active;
	buf->hdr.slots = 0;
	buf->snaplen = 0;
	for (__u32 i = 0; i < SNIFFER_MAX_CAPTURES; i++) {
		if (!(active & (1u << i)))
			continue;
		__u32 key = i;
		struct sniffer_capture_filter *f = bpf_map_lookup_elem(&capture_slots, &key);
		if (!f || !capture_matches(f, r, ifindex))
			continue;
		buf->hdr.slots |= 1u << i;
		if (f->snaplen > buf->snaplen)
			buf->snaplen = f->snaplen;
	}
	__u32 slots = buf->hdr.slots;
	if (!slots)
		return;
	buf->hdr.ts_mono_ns = bpf_ktime_get_ns();
	buf->hdr.ifindex = ifindex;
	buf->hdr.wire_len = wire_len;
	buf->hdr.hook = hook;
	buf->hdr.flags = 0;
	buf->hdr.source = SNIFFER_CAPTURE_SOURCE_SLOTS;
	/* A cut by the snap length is the capture's wish; one by the record's
	 * size (capture_emit) is flagged. */
	__u32 len = wire_len < buf->snaplen ? wire_len : buf->snaplen;
	bool sent = capture_emit(ctx, is_xdp, buf, 0, len);
	capture_count(slots, iface_slot, !sent);
}

#endif /* SNIFFER_CAPTURE_BPF_H */
