// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench/livegen: packet generator on BPF_PROG_RUN live frames
 * (BPF_F_TEST_XDP_LIVE_FRAMES, Linux >= 5.18). bench/livegen.cpp runs
 * livegen_tx with the frame as data_in and the sending interface as
 * ctx_in.ingress_ifindex; XDP_TX then becomes a redirect out of that
 * interface (on a veth: into the peer's XDP receive queue).
 *
 * In live mode the kernel recycles the frame pages and does not rewrite
 * them: whatever the receiver changed stays in the page (the gateway's IP
 * forwarding rewrites the MACs and the TTL of the very page, then the page comes
 * back to the pool, and the next run would send a frame for the LAN peer's MAC
 * that wan0 drops as OTHERHOST). So livegen_tx copies the whole template frame
 * (set by livegen.cpp before load) over the page on every run, then sets the
 * UDP source port from a per-CPU counter (sport = port_lo + n % port_span, as
 * trafgen's dinc(lo, hi, 1)) and patches the template's UDP checksum
 * incrementally (RFC 1624): it stays valid; a zero checksum (none, legal for
 * UDP/IPv4) stays zero.
 *
 * livegen_pass is a plain XDP_PASS for a receiving veth that has no program
 * of its own (bench/run.sh: the phases without the sensor); without one, a
 * veth drops XDP frames redirected to it (no NAPI on its receive queue).
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Ethernet + IPv4 (no options) + UDP, 60 bytes; set by livegen.cpp before
 * load (rodata), with sport = port_lo and its UDP checksum. */
#define LIVEGEN_FRAME_LEN 60
#define LIVEGEN_UDP_OFF (14 + 20)
/* Words, not bytes: each is read with one volatile load (a memcpy from the
 * array would be folded to the zeros it is initialised with). */
const volatile __u32 tmpl[LIVEGEN_FRAME_LEN / 4] = {};
/* port_span 0: keep the template's port. */
const volatile __u16 port_lo = 0;
const volatile __u32 port_span = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lg_seq SEC(".maps");

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

SEC("xdp")
int livegen_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udphdr *udp;
	__u32 zero = 0;
	__u64 *seq;

	if (data + LIVEGEN_FRAME_LEN > data_end)
		return XDP_ABORTED;
#pragma unroll
	for (int i = 0; i < LIVEGEN_FRAME_LEN / 4; i++)
		((__u32 *)data)[i] = tmpl[i];
	if (port_span == 0)
		return XDP_TX;
	seq = bpf_map_lookup_elem(&lg_seq, &zero);
	if (!seq)
		return XDP_TX;
	udp = data + LIVEGEN_UDP_OFF;
	__u16 old_port = udp->source;
	__u16 new_port = bpf_htons((__u16)(port_lo + (__u32)(*seq % port_span)));
	*seq += 1;
	udp->source = new_port;
	if (udp->check) {
		/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
		__u32 s = (__u16)~udp->check;
		s += (__u16)~old_port;
		s += new_port;
		__u16 c = ~csum_fold32(s);
		udp->check = c ? c : 0xffff;
	}
	return XDP_TX;
}

SEC("xdp")
int livegen_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
