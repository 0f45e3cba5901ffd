/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 extension headers, for the two walks over them that must agree: the
 * parser's over the frame (parse.bpf.h) and the drops program's over a freed
 * skb (drops.bpf.h), so that a dropped packet finds the flow its transport
 * header keyed.
 */
#ifndef SNIFFER_IPV6_EXT_BPF_H
#define SNIFFER_IPV6_EXT_BPF_H

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

/* An extension header stepped over by its length byte (the fragment header,
 * of fixed size and with an offset to look at, apart). */
static __always_inline bool ipv6_is_ext_hdr(__u8 next)
{
	return next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST || next == NEXTHDR_AUTH;
}

/* Its length from that byte: AH in 4-byte units less 2, the others in 8-byte
 * units less 1. */
static __always_inline __u32 ipv6_ext_hdr_len(__u8 next, __u8 hdrlen)
{
	return next == NEXTHDR_AUTH ? (hdrlen + 2) * 4 : (hdrlen + 1) * 8;
}

#endif /* SNIFFER_IPV6_EXT_BPF_H */
