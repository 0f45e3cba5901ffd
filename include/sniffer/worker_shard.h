/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which worker owns a flow (capture.workers): a hash of the flow's two
 * endpoints (address and port) and its protocol that does not depend on
 * which endpoint sent the packet, so that both directions of a flow reach
 * the same worker, whose flow table shard then holds the whole flow. The
 * programs choose the worker's ring with it (bpf/record.bpf.h); the daemon's
 * kernel flow sweep finds its own shard of the "flows" map with it. Both
 * compile this very code: the same hash on both sides.
 *
 * The VLAN id is left out: a flow's key has it, so each key still maps to
 * one worker.
 */
#ifndef SNIFFER_WORKER_SHARD_H
#define SNIFFER_WORKER_SHARD_H

#include "sniffer/abi.h"
#include "sniffer/flow_key.h" /* SNIFFER_INLINE */

/* One endpoint, mixed: the sum of two of these is symmetric in the two. */
SNIFFER_INLINE __u32 sniffer_endpoint_mix(const __u8 *addr, __u16 port)
{
	__u32 w[4];
	__builtin_memcpy(w, addr, 16);
	__u32 h = w[0] * 0x9e3779b1u + w[1] * 0x85ebca77u + w[2] * 0xc2b2ae3du + w[3] * 0x27d4eb2fu +
		  (__u32)port * 0x165667b1u;
	return h ^ (h >> 15);
}

/* The owner, 0..workers-1, of the flow between (a, port_a) and (b, port_b). */
SNIFFER_INLINE __u32 sniffer_worker_of(const __u8 *a, __u16 port_a, const __u8 *b, __u16 port_b,
				       __u8 l4_proto, __u32 workers)
{
	__u32 h = sniffer_endpoint_mix(a, port_a) + sniffer_endpoint_mix(b, port_b) + l4_proto;
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	/* Multiply-shift onto 0..workers-1: no division. */
	return (__u32)(((__u64)h * workers) >> 32);
}

#endif /* SNIFFER_WORKER_SHARD_H */
