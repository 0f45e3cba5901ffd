/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Bounds-checked packet parsing for the sniffer programs (BPF only).
 * Every header read is preceded by a check against data_end; a packet that
 * ends inside a header sets SNIFFER_PARSE_TRUNCATED and parsing stops with
 * what was read so far. Nothing here drops a packet.
 */
#ifndef SNIFFER_PARSE_BPF_H
#define SNIFFER_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include "sniffer/abi.h"
#include "ipv6_ext.bpf.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define PROTO_SCTP 132
#define SCTP_COMMON_HDR_LEN 12

/* Offsets beyond this are not parsed (keeps the verifier's ranges small). */
#define PARSE_MAX_OFFSET 4096

struct vlan_tag {
	__be16 tci;
	__be16 inner_proto;
};

struct ipv6_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* Reads the ports, the first 4 bytes of a TCP or UDP header: a header the
 * capture cut (snap length) still has them, as tshark reads them. Returns 0,
 * the record flagged TRUNCATED, when they are not in the frame. */
static __always_inline int parse_ports(void *pos, void *data_end, struct sniffer_record *r)
{
	__be16 *ports = pos;
	if ((void *)((__u8 *)pos + 4) > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return 0;
	}
	r->sport = bpf_ntohs(ports[0]);
	r->dport = bpf_ntohs(ports[1]);
	return 1;
}

/* A TCP header cut inside its fixed part: each field whose bytes were
 * captured; the flags with the data offset (bytes 12, 13), which sets
 * l4_hdr_len. No payload in the frame. */
static __always_inline void parse_tcp_cut(struct tcphdr *th, void *data_end, struct sniffer_record *r)
{
	__u8 *tb = (__u8 *)th;
	r->parse_flags |= SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;
	if ((void *)(tb + 8) <= data_end)
		r->tcp_seq = bpf_ntohl(th->seq);
	if ((void *)(tb + 12) <= data_end)
		r->tcp_ack = bpf_ntohl(th->ack_seq);
	if ((void *)(tb + 14) <= data_end) {
		r->l4_hdr_len = (tb[12] >> 4) * 4;
		r->tcp_flags = tb[13];
		if (r->l4_hdr_len < sizeof(*th))
			r->parse_flags |= SNIFFER_PARSE_MALFORMED;
	}
	if ((void *)(tb + 16) <= data_end)
		r->tcp_window = bpf_ntohs(th->window);
}

static __always_inline void parse_tcp(void *pos, void *data_end, __u32 off, struct sniffer_record *r)
{
	struct tcphdr *th = pos;
	if (!parse_ports(pos, data_end, r))
		return;
	if ((void *)(th + 1) > data_end) {
		parse_tcp_cut(th, data_end, r);
		return;
	}
	r->tcp_flags = ((__u8 *)th)[13];
	r->tcp_window = bpf_ntohs(th->window);
	r->tcp_seq = bpf_ntohl(th->seq);
	r->tcp_ack = bpf_ntohl(th->ack_seq);
	__u32 hlen = th->doff * 4;
	r->l4_hdr_len = hlen;
	if (hlen < sizeof(*th)) {
		r->parse_flags |= SNIFFER_PARSE_MALFORMED;
		return;
	}
	if (pos + hlen > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	r->payload_offset = off + hlen;
}

static __always_inline void parse_udp(void *pos, void *data_end, __u32 off, struct sniffer_record *r)
{
	struct udphdr *uh = pos;
	if (!parse_ports(pos, data_end, r))
		return;
	if ((void *)(uh + 1) > data_end) {
		/* Cut after the ports: no length, no payload in the frame. */
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;
		return;
	}
	r->l4_hdr_len = sizeof(*uh);
	r->payload_offset = off + sizeof(*uh);
}

/* SCTP: the common header (ports, verification tag, checksum); its chunks are
 * the payload. The ports key the flow, as for TCP and UDP (and Community ID). */
static __always_inline void parse_sctp(void *pos, void *data_end, __u32 off, struct sniffer_record *r)
{
	if (!parse_ports(pos, data_end, r))
		return;
	if ((void *)((__u8 *)pos + SCTP_COMMON_HDR_LEN) > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_L4_CUT;
		return;
	}
	r->l4_hdr_len = SCTP_COMMON_HDR_LEN;
	r->payload_offset = off + SCTP_COMMON_HDR_LEN;
}

/* ICMP and ICMPv6: type, code, checksum, 4 bytes of rest-of-header. */
static __always_inline void parse_icmp(void *pos, void *data_end, __u32 off, struct sniffer_record *r)
{
	__u8 *ih = pos;
	if ((void *)(ih + 8) > data_end) {
		if ((void *)(ih + 2) <= data_end) {
			r->icmp_type = ih[0];
			r->icmp_code = ih[1];
		}
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	r->icmp_type = ih[0];
	r->icmp_code = ih[1];
	r->l4_hdr_len = 8;
	r->payload_offset = off + 8;
}

/* Parses the L4 header at offset off. Sets ports, flags and payload_offset. */
static __always_inline void parse_l4(void *data, void *data_end, __u32 off,
				     struct sniffer_record *r)
{
	if (off > PARSE_MAX_OFFSET) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED; /* not read: past the parser's reach */
		return;
	}
	void *pos = data + off;

	switch (r->l4_proto) {
	case PROTO_TCP:
		parse_tcp(pos, data_end, off, r);
		return;
	case PROTO_UDP:
		parse_udp(pos, data_end, off, r);
		return;
	case PROTO_SCTP:
		parse_sctp(pos, data_end, off, r);
		return;
	case PROTO_ICMP:
	case PROTO_ICMPV6:
		parse_icmp(pos, data_end, off, r);
		return;
	default:
		r->payload_offset = off;
		return;
	}
}

static __always_inline void parse_ipv4(void *data, void *data_end, __u32 off,
				       struct sniffer_record *r)
{
	struct iphdr *iph = data + off;
	r->ip_version = 4;
	if ((void *)(iph + 1) > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	if (iph->version != 4 || iph->ihl < 5) {
		r->parse_flags |= SNIFFER_PARSE_MALFORMED;
		return;
	}
	__builtin_memcpy(r->saddr, &iph->saddr, 4);
	__builtin_memcpy(r->daddr, &iph->daddr, 4);
	r->ttl = iph->ttl;
	r->l4_proto = iph->protocol;
	r->ip_total_len = bpf_ntohs(iph->tot_len);
	r->frag_id = bpf_ntohs(iph->id);

	__u32 hlen = iph->ihl * 4;
	r->l3_hdr_len = hlen;
	/* A total length of 0 (a capture on a host with TCP segmentation
	 * offload) is not malformed: check_ip_length() takes the length from
	 * the frame. */
	if (r->ip_total_len && r->ip_total_len < hlen)
		r->parse_flags |= SNIFFER_PARSE_MALFORMED;

	__u16 frag = bpf_ntohs(iph->frag_off);
	__u16 frag_off = (frag & 0x1fff) * 8;
	if (frag & 0x4000)
		r->frag_flags |= SNIFFER_FRAG_DF;
	if (frag & 0x2000)
		r->frag_flags |= SNIFFER_FRAG_MF;
	if ((frag & 0x2000) || frag_off) {
		r->frag_flags |= SNIFFER_FRAG_FRAGMENT;
		r->frag_offset = frag_off;
	}
	if ((void *)iph + hlen > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	if (frag_off) {
		/* Only the first fragment carries the L4 header. */
		r->frag_flags |= SNIFFER_FRAG_NOT_FIRST;
		r->payload_offset = off + hlen;
		return;
	}
	parse_l4(data, data_end, off + hlen, r);
}

static __always_inline void parse_ipv6(void *data, void *data_end, __u32 off,
				       struct sniffer_record *r)
{
	struct ipv6hdr *ip6 = data + off;
	r->ip_version = 6;
	if ((void *)(ip6 + 1) > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	if (ip6->version != 6) {
		r->parse_flags |= SNIFFER_PARSE_MALFORMED;
		return;
	}
	__builtin_memcpy(r->saddr, &ip6->saddr, 16);
	__builtin_memcpy(r->daddr, &ip6->daddr, 16);
	r->ttl = ip6->hop_limit;
	r->ip_total_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);

	__u8 nexthdr = ip6->nexthdr;
	__u32 l3_start = off;
	off += sizeof(*ip6);

	/* Bounded walk over the extension headers, then one parse of what
	 * follows them: a single place where the walk's exits meet, so that the
	 * verifier can prune the rest of the program for each of them. */
	for (int i = 0; i < SNIFFER_IPV6_MAX_EXT_HDRS; i++) {
		if (nexthdr != NEXTHDR_FRAGMENT && !ipv6_is_ext_hdr(nexthdr))
			break;
		if (off > PARSE_MAX_OFFSET) {
			r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
			return;
		}
		if (nexthdr == NEXTHDR_FRAGMENT) {
			struct ipv6_frag_hdr *fh = data + off;
			if ((void *)(fh + 1) > data_end) {
				r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
				return;
			}
			__u16 fo = bpf_ntohs(fh->frag_off);
			r->frag_flags |= SNIFFER_FRAG_FRAGMENT;
			if (fo & 1)
				r->frag_flags |= SNIFFER_FRAG_MF;
			r->frag_offset = fo & 0xfff8;
			r->frag_id = bpf_ntohl(fh->identification);
			nexthdr = fh->nexthdr;
			off += sizeof(*fh);
			if (r->frag_offset) {
				r->frag_flags |= SNIFFER_FRAG_NOT_FIRST;
				r->l4_proto = nexthdr;
				r->l3_hdr_len = off - l3_start;
				r->payload_offset = off;
				return;
			}
			continue;
		}
		struct ipv6_ext_hdr *eh = data + off;
		if ((void *)(eh + 1) > data_end) {
			r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
			return;
		}
		off += ipv6_ext_hdr_len(nexthdr, eh->hdrlen);
		nexthdr = eh->nexthdr;
	}
	r->l4_proto = nexthdr;
	r->l3_hdr_len = off - l3_start;
	if (nexthdr == NEXTHDR_FRAGMENT || ipv6_is_ext_hdr(nexthdr)) {
		/* Still inside the extension chain after the bound. */
		r->parse_flags |= SNIFFER_PARSE_EXTHDR_LIMIT;
		return;
	}
	parse_l4(data, data_end, off, r);
}

/* Where the IP header starts in the frame: after the Ethernet header, the
 * VLAN tags and the MPLS labels the parser read there (an offloaded tag is
 * not in the frame). */
static __always_inline __u32 sniffer_l3_offset(const struct sniffer_record *r)
{
	__u32 tags_in_frame = (__u32)r->vlan_count - r->vlan_offloaded;
	return sizeof(struct ethhdr) + tags_in_frame * sizeof(struct vlan_tag) + (__u32)r->mpls_count * 4;
}

/* Fills the parsed fields of r from the frame [data, data_end). An outer tag
 * the caller already put in r (vlan_offloaded) comes before the frame's. */
static __always_inline void parse_packet(void *data, void *data_end, struct sniffer_record *r)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end) {
		r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
		return;
	}
	__be16 proto = eth->h_proto;
	__u32 off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		__u8 n = r->vlan_count;
		if (n >= 2)
			break; /* the offloaded tag and one in the frame: VLAN_EXCESS below */
		struct vlan_tag *vt = data + off;
		if ((void *)(vt + 1) > data_end) {
			r->ethertype = bpf_ntohs(proto);
			r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
			return;
		}
		__u16 vid = bpf_ntohs(vt->tci) & 0x0fff;
		if (n) /* not vlan_ids[n]: clang turns that address into an OR the verifier refuses */
			r->vlan_ids[1] = vid;
		else
			r->vlan_ids[0] = vid;
		r->vlan_count = n + 1;
		proto = vt->inner_proto;
		off += sizeof(*vt);
	}
	r->ethertype = bpf_ntohs(proto);
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		r->parse_flags |= SNIFFER_PARSE_VLAN_EXCESS;
		return;
	}
	if (proto == bpf_htons(ETH_P_MPLS_UC) || proto == bpf_htons(ETH_P_MPLS_MC)) {
		/* A bounded walk to the bottom-of-stack label (RFC 3032: label 20
		 * bits, TC 3, S 1, TTL 8). Below it no EtherType says what
		 * follows: as Zeek and Suricata, the first nibble tells IPv4 (4)
		 * from IPv6 (6); anything else (a pseudowire, ...) is not parsed. */
		int bottom = 0;
		for (int i = 0; i < SNIFFER_MPLS_MAX_LABELS; i++) {
			__u8 *lse = data + off;
			if ((void *)(lse + 4) > data_end) {
				r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
				return;
			}
			r->mpls_count = i + 1;
			off += 4;
			if (lse[2] & 0x01) {
				bottom = 1;
				break;
			}
		}
		if (!bottom) {
			r->parse_flags |= SNIFFER_PARSE_VLAN_EXCESS;
			return;
		}
		__u8 *ip = data + off;
		if ((void *)(ip + 1) > data_end) {
			r->parse_flags |= SNIFFER_PARSE_TRUNCATED;
			return;
		}
		if ((*ip >> 4) == 4)
			parse_ipv4(data, data_end, off, r);
		else if ((*ip >> 4) == 6)
			parse_ipv6(data, data_end, off, r);
		return;
	}
	if (proto == bpf_htons(ETH_P_IP))
		parse_ipv4(data, data_end, off, r);
	else if (proto == bpf_htons(ETH_P_IPV6))
		parse_ipv6(data, data_end, off, r);
}

#endif /* SNIFFER_PARSE_BPF_H */
