/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The canonical bidirectional flow key (struct sniffer_flow_key, abi.h) of a
 * packet, for the BPF programs and userspace alike (see sniffer/flow_update.h:
 * C that compiles as BPF C and as C++). Addresses are compared and copied a
 * word at a time: per packet, on the kernel's flow path.
 */
#ifndef SNIFFER_FLOW_KEY_H
#define SNIFFER_FLOW_KEY_H

#include "sniffer/abi.h"

#ifndef SNIFFER_INLINE
#ifdef __cplusplus
#define SNIFFER_INLINE static inline
#else
#define SNIFFER_INLINE static __always_inline
#endif
#endif

/* 8 bytes of an address, as stored (network order). BPF C: p must be
 * 8-aligned (the BPF callers pass a struct sniffer_record's addresses and a
 * key at the start of an 8-aligned struct), so it is one load, not eight. */
SNIFFER_INLINE __u64 sniffer_addr_word(const __u8 *p)
{
	__u64 w;
#ifdef __bpf__
	__builtin_memcpy(&w, __builtin_assume_aligned(p, 8), 8);
#else
	__builtin_memcpy(&w, p, 8);
#endif
	return w;
}

SNIFFER_INLINE void sniffer_addr_put(__u8 *p, __u64 w0, __u64 w1)
{
#ifdef __bpf__
	p = (__u8 *)__builtin_assume_aligned(p, 8);
#endif
	__builtin_memcpy(p, &w0, 8);
	__builtin_memcpy(p + 8, &w1, 8);
}

/* A word as a big-endian number: words compare as their bytes do. */
SNIFFER_INLINE __u64 sniffer_be_word(__u64 w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap64(w);
#else
	return w;
#endif
}

/* Fills the canonical key; returns 1 when the packet goes from side A to B
 * (src sorts first: bytewise address, then port). Two words per address. */
SNIFFER_INLINE int sniffer_flow_key_make(const __u8 *src, const __u8 *dst, __u16 sport, __u16 dport, __u16 vlan_id,
					 __u8 l4_proto, __u8 ip_version, struct sniffer_flow_key *k)
{
	__u64 s0 = sniffer_addr_word(src), s1 = sniffer_addr_word(src + 8);
	__u64 d0 = sniffer_addr_word(dst), d1 = sniffer_addr_word(dst + 8);
	__u64 bs0 = sniffer_be_word(s0), bd0 = sniffer_be_word(d0);
	__u64 bs1 = sniffer_be_word(s1), bd1 = sniffer_be_word(d1);
	int a_to_b = bs0 != bd0 ? bs0 < bd0 : bs1 != bd1 ? bs1 < bd1 : sport <= dport;
	sniffer_addr_put(k->addr_a, a_to_b ? s0 : d0, a_to_b ? s1 : d1);
	sniffer_addr_put(k->addr_b, a_to_b ? d0 : s0, a_to_b ? d1 : s1);
#if !defined(__bpf__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Userspace: the last five fields as one 8-byte store. The flow table
	 * hashes the key as five 8-byte loads right after this: a load spanning
	 * five smaller stores cannot take its bytes from the store buffer and
	 * waits until they have reached the cache (~10 ns a packet here). */
	{
		__u64 tail = (__u64)(a_to_b ? sport : dport) | (__u64)(a_to_b ? dport : sport) << 16 |
			     (__u64)vlan_id << 32 | (__u64)l4_proto << 48 | (__u64)ip_version << 56;
		__builtin_memcpy(&k->port_a, &tail, 8);
	}
#else
	k->port_a = a_to_b ? sport : dport;
	k->port_b = a_to_b ? dport : sport;
	k->vlan_id = vlan_id;
	k->l4_proto = l4_proto;
	k->ip_version = ip_version;
#endif
	return a_to_b;
}

#endif /* SNIFFER_FLOW_KEY_H */
