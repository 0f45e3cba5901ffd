/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The parse checked against the IP length field, after the parser
 * (parse.bpf.h).
 */
#ifndef SNIFFER_IP_LENGTH_BPF_H
#define SNIFFER_IP_LENGTH_BPF_H

#include "vmlinux.h"
#include "sniffer/abi.h"
#include "parse.bpf.h"

/* The fixed size of the transport header a first fragment must hold: 0 for a
 * protocol without one the parser reads. */
static __always_inline __u32 l4_fixed_header_len(__u8 l4_proto)
{
	if (l4_proto == PROTO_TCP)
		return sizeof(struct tcphdr);
	if (l4_proto == PROTO_UDP || l4_proto == PROTO_ICMP || l4_proto == PROTO_ICMPV6)
		return 8;
	return l4_proto == PROTO_SCTP ? SCTP_COMMON_HDR_LEN : 0;
}

/* Flags a fragment that splits the transport header (SNIFFER_PARSE_SPLIT_L4):
 * a first fragment (more to come) whose datagram ends before the fixed
 * transport header, or, IPv6, inside the extension chain (the parser stopped
 * there: TRUNCATED, no l3_hdr_len, the packet not cut by a capture); or a
 * later TCP fragment at offset 8 or 16, which rewrites the fixed header (RFC
 * 1858's overlap: its flags at offset 13). captured_len and orig_len as for
 * check_ip_length(). */
static __always_inline void check_split_l4(struct sniffer_record *r, __u32 captured_len, __u32 orig_len)
{
	if (r->frag_flags & SNIFFER_FRAG_NOT_FIRST) {
		if (r->l4_proto == PROTO_TCP && r->frag_offset < sizeof(struct tcphdr))
			r->parse_flags |= SNIFFER_PARSE_SPLIT_L4;
		return;
	}
	if (!(r->frag_flags & SNIFFER_FRAG_MF) || (r->parse_flags & SNIFFER_PARSE_EXTHDR_LIMIT))
		return; /* an IPv6 atomic fragment is a whole datagram */
	if (!r->l3_hdr_len) {
		if ((r->parse_flags & SNIFFER_PARSE_TRUNCATED) && captured_len == orig_len)
			r->parse_flags |= SNIFFER_PARSE_SPLIT_L4;
		return;
	}
	__u32 l3_start = sniffer_l3_offset(r);
	__u32 end = r->ip_total_len ? l3_start + r->ip_total_len : orig_len;
	if (end > orig_len)
		end = orig_len;
	if (l3_start + r->l3_hdr_len + l4_fixed_header_len(r->l4_proto) > end)
		r->parse_flags |= SNIFFER_PARSE_SPLIT_L4;
}

/* Checks the parse against the IP length field, after the parser:
 * - a length reaching beyond the frame (a forged length; a frame cut short is
 *   already TRUNCATED), or an IPv6 payload length of 0 that no hop-by-hop
 *   header explains (RFC 2675 jumbograms carry one), is flagged BAD_LENGTH;
 * - an L4 header crossing the datagram's end (a tiny fragment) is cut: the
 *   frame's bytes after the datagram are Ethernet padding, not header, so the
 *   fields read from them are cleared and the record is flagged TRUNCATED.
 * A length shorter than the frame is padding: normal.
 * A fragment is first checked by check_split_l4().
 * A global function: the verifier checks it once, on its own, and forgets at
 * the call what it knew of the record's fields. Inlined, it multiplied the
 * parser's paths past the verifier's 1M-instruction budget. */
__noinline int check_ip_length(struct sniffer_record *r, __u32 wire_len, __u32 frame_len)
{
	if (!r)
		return 0;
	if (r->frag_flags & SNIFFER_FRAG_FRAGMENT)
		check_split_l4(r, wire_len, frame_len);
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
	__u32 need = l4_fixed_header_len(r->l4_proto);
	if (r->l4_proto == PROTO_TCP && r->l4_hdr_len > need)
		need = r->l4_hdr_len;
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

#endif /* SNIFFER_IP_LENGTH_BPF_H */
