/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which worker owns a flow (capture.workers): a keyed hash of the flow's two
 * endpoints (address and port) and its protocol that does not depend on
 * which endpoint sent the packet, so that both directions of a flow reach
 * the same worker, whose flow table shard then holds the whole flow. The
 * programs choose the worker's ring with it (bpf/record.bpf.h); the daemon's
 * kernel flow sweep finds its own shard of the "flows" map with it. Both
 * compile this very code: the same hash on both sides.
 *
 * The key: with more than one worker the loader draws SNIFFER_WORKER_KEY_WORDS
 * random words (getrandom) at every load and gives them to the programs as a
 * load-time constant (cfg_worker_key, bpf/sniffer.bpf.c) and to the sweep
 * (BpfPrograms::worker_key), so that an attacker who knows this code cannot
 * choose flows (source ports, spoofed addresses) that all land on one worker.
 * Each word is XORed into one 32-bit word of an endpoint before its
 * multiply: the sums differ between keys in a way no choice of flows can
 * cancel for every key (a difference of (x ^ k) - (x' ^ k) in one word
 * depends on k, and the 64-bit products keep it), whereas a key added to the
 * sum after the fact would leave every exact collision of key 0 in place.
 * Key 0 is the unkeyed hash (tests; one worker, where no hash runs).
 *
 * Not a cryptographic PRF: it defeats flows computed offline; an attacker
 * who can watch per-worker drops over time may still learn the key's effect.
 *
 * The VLAN id is left out: a flow's key has it, so each key still maps to
 * one worker.
 */
#ifndef SNIFFER_WORKER_SHARD_H
#define SNIFFER_WORKER_SHARD_H

#include "sniffer/abi.h"
#include "sniffer/flow_key.h" /* SNIFFER_INLINE */

/* Words 0-3 go into the address words, word 4 into the port and protocol. */
#define SNIFFER_WORKER_KEY_WORDS 5

/* One endpoint, keyed and mixed: the sum of two of these is symmetric in the
 * two. Each 32-bit word (key XORed in) times its own odd 64-bit constant. */
SNIFFER_INLINE __u64 sniffer_endpoint_mix(const __u8 *addr, __u16 port, __u8 l4_proto, const volatile __u32 *key)
{
	__u32 w[4];
	__builtin_memcpy(w, addr, 16);
	__u64 h = (__u64)(w[0] ^ key[0]) * 0x9e3779b97f4a7c15ull + (__u64)(w[1] ^ key[1]) * 0xc2b2ae3d27d4eb4full +
		  (__u64)(w[2] ^ key[2]) * 0x165667b19e3779f9ull + (__u64)(w[3] ^ key[3]) * 0x85ebca77c2b2ae63ull +
		  (__u64)((((__u32)l4_proto << 16) | port) ^ key[4]) * 0x27d4eb2f165667c5ull;
	return h ^ (h >> 32);
}

/* The owner, 0..workers-1, of the flow between (a, port_a) and (b, port_b),
 * under key (SNIFFER_WORKER_KEY_WORDS words). */
SNIFFER_INLINE __u32 sniffer_worker_of(const __u8 *a, __u16 port_a, const __u8 *b, __u16 port_b, __u8 l4_proto,
				       __u32 workers, const volatile __u32 *key)
{
	__u64 h = sniffer_endpoint_mix(a, port_a, l4_proto, key) + sniffer_endpoint_mix(b, port_b, l4_proto, key);
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	/* The top 32 bits, multiply-shifted onto 0..workers-1: no division. */
	return (__u32)(((h >> 32) * workers) >> 32);
}

#ifdef __cplusplus
#include <array>
#include <cstdint>
namespace sniffer {
using WorkerKey = std::array<std::uint32_t, SNIFFER_WORKER_KEY_WORDS>;
}  // namespace sniffer
#endif

#endif /* SNIFFER_WORKER_SHARD_H */
