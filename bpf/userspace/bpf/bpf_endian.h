/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The user engine's stand-in for libbpf's bpf_endian.h: the same
 * conversions, constant expressions when their argument is one. */
#ifndef SNIFFER_USERSPACE_BPF_ENDIAN_H
#define SNIFFER_USERSPACE_BPF_ENDIAN_H

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htons(x) ((__be16)__builtin_bswap16(x))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16(x))
#define bpf_htonl(x) ((__be32)__builtin_bswap32(x))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32(x))
#else
#define bpf_htons(x) ((__be16)(x))
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htonl(x) ((__be32)(x))
#define bpf_ntohl(x) ((__u32)(x))
#endif

#endif /* SNIFFER_USERSPACE_BPF_ENDIAN_H */
