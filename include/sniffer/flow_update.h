/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How one packet changes a flow's state (struct sniffer_flow_state, abi.h).
 * The one definition of the flow features' arithmetic: the BPF programs
 * (kernel flow aggregation) and the userspace flow table both call these
 * functions, so both modes yield the same records, bit for bit. Hence C that
 * compiles as BPF C and as C++: integers only (no floating point in the
 * kernel), bounded loops, no library calls. docs/flow-features.md defines
 * each feature.
 */
#ifndef SNIFFER_FLOW_UPDATE_H
#define SNIFFER_FLOW_UPDATE_H

#include "sniffer/abi.h"
#include "sniffer/flow_key.h" /* SNIFFER_INLINE, sniffer_flow_key_make */

#define SNIFFER_TS_NEVER (~(__u64)0)

#define SNIFFER_TCP_FLAG_FIN 0x01
#define SNIFFER_TCP_FLAG_SYN 0x02
#define SNIFFER_TCP_FLAG_RST 0x04
#define SNIFFER_TCP_FLAG_PSH 0x08
#define SNIFFER_TCP_FLAG_ACK 0x10
#define SNIFFER_TCP_FLAG_URG 0x20

/* What the flow logic needs of one packet. */
struct sniffer_flow_packet {
	__u64 ts;
	__u32 wire_len;
	__u32 header_len;  /* L3 + L4 header bytes */
	__u32 payload_len; /* L4 payload bytes, from the IP length (padding excluded) */
	__u32 tcp_seq;
	__u16 tcp_window;
	__u8 tcp_flags;
	__u8 has_tcp_header; /* flags and seq are valid */
	__u8 has_tcp_window; /* tcp_window is valid (the fixed TCP header was captured whole) */
	__u8 icmp_type;      /* ICMP/ICMPv6 type and code (a flow keeps its first packet's) */
	__u8 icmp_code;
	__u8 no_l4_header;   /* a fragment after the first */
};

/* t + d without wrapping: timestamps come from packets, which may carry
 * anything. A deadline that saturates is "never". */
SNIFFER_INLINE __u64 sniffer_later(__u64 t, __u64 d)
{
	return t >= SNIFFER_TS_NEVER - d ? SNIFFER_TS_NEVER : t + d;
}

SNIFFER_INLINE int sniffer_due(__u64 deadline, __u64 now)
{
	return deadline != SNIFFER_TS_NEVER && deadline <= now;
}

/* The flow view of a parsed packet; 0 when it cannot belong to a flow (not
 * IP, or the IP header was not read). */
SNIFFER_INLINE int sniffer_flow_packet_of(const struct sniffer_record *r, __u64 ts, __u32 wire_len,
					  struct sniffer_flow_packet *p)
{
	if (r->ip_version != 4 && r->ip_version != 6)
		return 0;
	if (r->l3_hdr_len == 0) /* truncated or malformed before the addresses */
		return 0;
	p->ts = ts;
	p->wire_len = wire_len;
	int first_fragment = !(r->frag_flags & SNIFFER_FRAG_NOT_FIRST);
	/* An L4 header the capture cut before its length is known (the parser
	 * left l4_hdr_len 0) still takes its minimal size out of the datagram:
	 * its bytes are header, not payload. Never beyond the datagram (a tiny
	 * fragment). */
	__u32 l4 = r->l4_hdr_len;
	if (!l4 && first_fragment) {
		if (r->l4_proto == 6)
			l4 = 20;
		else if (r->l4_proto == 17 || (r->ip_version == 4 && r->l4_proto == 1) ||
			 (r->ip_version == 6 && r->l4_proto == 58))
			l4 = 8;
		if (r->ip_total_len >= r->l3_hdr_len && (__u32)r->l3_hdr_len + l4 > r->ip_total_len)
			l4 = r->ip_total_len - r->l3_hdr_len;
	}
	p->header_len = (__u32)r->l3_hdr_len + l4;
	p->payload_len = r->ip_total_len > p->header_len ? r->ip_total_len - p->header_len : 0;
	/* The parser sets l4_hdr_len once it read the data offset, together with
	 * the flags byte: the flags are valid then, even in a cut header. */
	p->has_tcp_header = r->l4_proto == 6 && r->l4_hdr_len >= 20 && first_fragment;
	p->tcp_flags = p->has_tcp_header ? r->tcp_flags : 0;
	/* The window only when the fixed header was captured whole. */
	p->has_tcp_window = p->has_tcp_header && !(r->parse_flags & SNIFFER_PARSE_L4_CUT);
	p->tcp_window = p->has_tcp_window ? r->tcp_window : 0;
	p->tcp_seq = p->has_tcp_header ? r->tcp_seq : 0;
	p->icmp_type = r->icmp_type;
	p->icmp_code = r->icmp_code;
	p->no_l4_header = !first_fragment;
	return 1;
}

/* Whether p is a SYN+ACK: the answer to a connection attempt. */
SNIFFER_INLINE int sniffer_is_syn_ack(const struct sniffer_flow_packet *p)
{
	return p->has_tcp_header && (p->tcp_flags & 0x12) == 0x12;
}

/* Which way the flow whose first packet is p runs: 1 when its originator is
 * side A. The first packet's sender is the originator, except for a SYN+ACK
 * (the capture began mid-handshake, or sees only the server's side): as in
 * Zeek, its receiver is the originator, so the connection states and the
 * history read as from the client. a_to_b: p goes from side A to B. */
SNIFFER_INLINE int sniffer_flow_orig_is_a(const struct sniffer_flow_packet *p, int a_to_b)
{
	return sniffer_is_syn_ack(p) ? !a_to_b : a_to_b != 0;
}

/* Adds x: count, sum, 128-bit sum of squares, min, max. */
SNIFFER_INLINE void sniffer_moments_add(struct sniffer_moments *m, __u64 x)
{
	if (m->count == 0) {
		m->min = m->max = x;
	} else {
		if (x < m->min)
			m->min = x;
		if (x > m->max)
			m->max = x;
	}
	m->count++;
	m->sum += x;
	/* x^2 = hi^2 * 2^64 + 2 * hi * lo * 2^32 + lo^2, in 32-bit halves; the
	 * usual x (sizes, gaps under 4.3 s) has hi 0: x^2 = lo^2. */
	__u64 lo = x & 0xffffffffULL, hi = x >> 32;
	__u64 sq_lo = lo * lo, sq_hi = 0;
	if (hi) {
		__u64 ll = sq_lo, lh = lo * hi;
		sq_lo = ll + (lh << 33);
		sq_hi = hi * hi + (lh >> 31) + (sq_lo < ll ? 1 : 0);
	}
	__u64 old = m->sumsq_lo;
	m->sumsq_lo = old + sq_lo;
	/* The high word changes only by a carry or a square of 2^64 or more. */
	if (sq_hi || m->sumsq_lo < old)
		m->sumsq_hi += sq_hi + (m->sumsq_lo < old ? 1 : 0);
}

SNIFFER_INLINE int sniffer_flow_rst_seen(const struct sniffer_flow_state *s)
{
	return (s->tcp & (SNIFFER_TCP_RST_ORIG | SNIFFER_TCP_RST_RESP)) != 0;
}

/* TCP: both FINs or a RST seen; the flow ends after the close grace. */
SNIFFER_INLINE int sniffer_flow_closed(const struct sniffer_flow_state *s)
{
	return sniffer_flow_rst_seen(s) ||
	       (s->tcp & (SNIFFER_TCP_FIN_ORIG | SNIFFER_TCP_FIN_RESP)) == (SNIFFER_TCP_FIN_ORIG | SNIFFER_TCP_FIN_RESP);
}

/* The reason a flow ended by FIN/RST reports. */
SNIFFER_INLINE int sniffer_flow_close_reason(const struct sniffer_flow_state *s)
{
	return sniffer_flow_rst_seen(s) ? SNIFFER_FLOW_END_RST : SNIFFER_FLOW_END_FIN;
}

/* Starts a flow (s is overwritten whole) with its first packet, which goes to
 * sniffer_flow_add next. orig_a: the originator ("forward" sender) is side A
 * (sniffer_flow_orig_is_a). */
SNIFFER_INLINE void sniffer_flow_init(struct sniffer_flow_state *s, const struct sniffer_flow_key *key, int orig_a,
				      __u64 flow_id, const struct sniffer_flow_packet *first, __u32 ifindex, __u8 mode,
				      __u8 is_wan_facing, const struct sniffer_flow_params *prm)
{
	__u64 ts = first->ts;
	__builtin_memset(s, 0, sizeof(*s));
	__builtin_memcpy(&s->key, key, sizeof(*key));
	s->flow_id = flow_id;
	s->first_ts = s->last_ts = s->active_start = s->active_end = ts;
	s->next_update_ts = sniffer_later(ts, prm->active_timeout_ns);
	s->fwd.init_window = s->bwd.init_window = -1;
	s->ifindex = ifindex;
	s->mode = mode;
	s->is_wan_facing = is_wan_facing;
	s->fwd_is_a_to_b = orig_a ? 1 : 0;
	s->icmp_type = first->icmp_type;
	s->icmp_code = first->icmp_code;
	s->no_l4_header = first->no_l4_header;
}

/* Zeek-like history: each letter once per side, originator upper case.
 * letter_index: position of the letter in "shafrd". */
SNIFFER_INLINE void sniffer_flow_note(struct sniffer_flow_state *s, char letter, __u32 letter_index, int forward)
{
	__u32 bit = 1u << (letter_index * 2 + (forward ? 0 : 1));
	if (s->history_seen & bit)
		return;
	s->history_seen |= bit;
	__u32 len = s->history_len;
	if (len < SNIFFER_FLOW_HISTORY_LEN - 1) {
		s->history[len] = (__u8)(forward ? letter - 'a' + 'A' : letter);
		s->history_len = (__u8)(len + 1);
	}
}

SNIFFER_INLINE void sniffer_flow_add_tcp(struct sniffer_flow_state *s, const struct sniffer_flow_packet *p,
					 int forward)
{
	__u8 f = p->tcp_flags;
	if ((f & SNIFFER_TCP_FLAG_SYN) && !(f & SNIFFER_TCP_FLAG_ACK)) {
		if (!(s->tcp & SNIFFER_TCP_HAS_SYN_SEQ)) {
			s->tcp |= SNIFFER_TCP_HAS_SYN_SEQ;
			s->syn_seq = p->tcp_seq;
		}
		sniffer_flow_note(s, 's', 0, forward);
		if (forward)
			s->tcp |= SNIFFER_TCP_SYN_ORIG;
	}
	if ((f & SNIFFER_TCP_FLAG_SYN) && (f & SNIFFER_TCP_FLAG_ACK)) {
		sniffer_flow_note(s, 'h', 1, forward);
		if (!forward)
			s->tcp |= SNIFFER_TCP_SYNACK_RESP;
	}
	if ((f & SNIFFER_TCP_FLAG_ACK) &&
	    !(f & (SNIFFER_TCP_FLAG_SYN | SNIFFER_TCP_FLAG_FIN | SNIFFER_TCP_FLAG_RST)) && p->payload_len == 0)
		sniffer_flow_note(s, 'a', 2, forward);
	if (p->payload_len > 0)
		sniffer_flow_note(s, 'd', 5, forward);
	if (f & SNIFFER_TCP_FLAG_FIN) {
		sniffer_flow_note(s, 'f', 3, forward);
		s->tcp |= forward ? SNIFFER_TCP_FIN_ORIG : SNIFFER_TCP_FIN_RESP;
	}
	if (f & SNIFFER_TCP_FLAG_RST) {
		sniffer_flow_note(s, 'r', 4, forward);
		s->tcp |= forward ? SNIFFER_TCP_RST_ORIG : SNIFFER_TCP_RST_RESP;
	}
}

/* Bulks (CICFlowMeter): runs of >= 4 data packets one way, gaps below
 * bulk_gap_ns, no data from the other side meanwhile. */
SNIFFER_INLINE void sniffer_flow_add_bulk(struct sniffer_flow_dir *d, const struct sniffer_flow_dir *other,
					  const struct sniffer_flow_packet *p, const struct sniffer_flow_params *prm)
{
	if (p->payload_len == 0)
		return;
	__u64 t = d->last_ts;
	if (d->bulk_run_packets > 0 && other->last_data_ts > d->bulk_run_start)
		d->bulk_run_packets = 0;
	if (d->bulk_run_packets == 0 || t - d->bulk_run_last > prm->bulk_gap_ns) {
		d->bulk_run_start = d->bulk_run_last = t;
		d->bulk_run_packets = 1;
		d->bulk_run_bytes = p->payload_len;
	} else {
		d->bulk_run_packets++;
		d->bulk_run_bytes += p->payload_len;
		if (d->bulk_run_packets == 4) { /* the run becomes a bulk */
			d->bulk_count++;
			d->bulk_packets += 4;
			d->bulk_bytes += d->bulk_run_bytes;
			d->bulk_duration_ns += t - d->bulk_run_start;
		} else if (d->bulk_run_packets > 4) {
			d->bulk_packets++;
			d->bulk_bytes += p->payload_len;
			d->bulk_duration_ns += t - d->bulk_run_last;
		}
		d->bulk_run_last = t;
	}
	d->last_data_ts = t;
}

/* flag_counts: ACK alone and PSH+ACK (most packets) without a test per bit. */
SNIFFER_INLINE void sniffer_flow_count_flags(struct sniffer_flow_state *s, __u8 f)
{
	if (f == SNIFFER_TCP_FLAG_ACK) {
		s->flag_counts[4]++;
		return;
	}
	if (f == (SNIFFER_TCP_FLAG_PSH | SNIFFER_TCP_FLAG_ACK)) {
		s->flag_counts[3]++;
		s->flag_counts[4]++;
		return;
	}
	for (int bit = 0; bit < 8; bit++) {
		if (f & (1u << bit))
			s->flag_counts[bit]++;
	}
}

SNIFFER_INLINE void sniffer_flow_add_to_dir(struct sniffer_flow_state *s, struct sniffer_flow_dir *d,
					    const struct sniffer_flow_dir *other, const struct sniffer_flow_packet *p,
					    int forward, const struct sniffer_flow_params *prm)
{
	/* Records from several CPUs may arrive slightly out of order: time
	 * never runs backwards inside a flow. */
	__u64 t = p->ts > s->last_ts ? p->ts : s->last_ts;
	int first_packet = s->fwd.payload.count + s->bwd.payload.count == 0;

	if (!first_packet)
		sniffer_moments_add(&s->iat_ns, t - s->last_ts);
	if (d->payload.count > 0)
		sniffer_moments_add(&d->iat_ns, t - d->last_ts);
	d->last_ts = t;

	if (first_packet || t - s->last_ts > prm->subflow_gap_ns)
		s->subflow_count++;
	if (t - s->active_end > prm->activity_timeout_ns) {
		if (s->active_end > s->active_start)
			sniffer_moments_add(&s->active_ns, s->active_end - s->active_start);
		sniffer_moments_add(&s->idle_ns, t - s->active_end);
		s->active_start = t;
	}
	s->active_end = t;

	d->bytes += p->wire_len;
	d->header_bytes += p->header_len;
	if (p->payload_len > 0)
		d->data_packets++;
	if (d->payload.count == 0 || p->header_len < d->min_header)
		d->min_header = p->header_len;
	sniffer_moments_add(&d->payload, p->payload_len);

	if (p->has_tcp_header) {
		sniffer_flow_count_flags(s, p->tcp_flags);
		if (p->tcp_flags & SNIFFER_TCP_FLAG_PSH)
			d->psh++;
		if (p->tcp_flags & SNIFFER_TCP_FLAG_URG)
			d->urg++;
		if (d->init_window < 0 && p->has_tcp_window)
			d->init_window = p->tcp_window;
		sniffer_flow_add_tcp(s, p, forward);
	} else if (s->key.l4_proto == 17 && p->payload_len > 0) {
		sniffer_flow_note(s, 'd', 5, forward); /* UDP: Zeek's D / d */
	}
	sniffer_flow_add_bulk(d, other, p, prm);
	s->last_ts = t;
}

/* Adds a packet (the first one included). */
SNIFFER_INLINE void sniffer_flow_add(struct sniffer_flow_state *s, const struct sniffer_flow_packet *p, int a_to_b,
				     const struct sniffer_flow_params *prm)
{
	/* Two calls with constant directions, rather than a pointer chosen at
	 * run time: the BPF verifier then sees fixed offsets into the map value. */
	if ((a_to_b != 0) == (s->fwd_is_a_to_b != 0))
		sniffer_flow_add_to_dir(s, &s->fwd, &s->bwd, p, 1, prm);
	else
		sniffer_flow_add_to_dir(s, &s->bwd, &s->fwd, p, 0, prm);
}

/* A SYN without ACK (a connection attempt). */
SNIFFER_INLINE int sniffer_is_syn_only(const struct sniffer_flow_packet *p)
{
	return p->has_tcp_header && (p->tcp_flags & 0x12) == 0x02;
}

/* Why the flow s ends at time now (SNIFFER_FLOW_END_*), or 0: its close
 * grace has passed (checked first), or it has been idle too long. */
SNIFFER_INLINE int sniffer_flow_due_reason(const struct sniffer_flow_state *s, __u64 now,
					   const struct sniffer_flow_params *prm)
{
	if ((s->tcp & SNIFFER_TCP_CLOSING) && sniffer_due(sniffer_later(s->closing_since, prm->tcp_close_grace_ns), now))
		return sniffer_flow_close_reason(s);
	if (sniffer_due(sniffer_later(s->last_ts, prm->idle_timeout_ns), now))
		return SNIFFER_FLOW_END_IDLE_TIMEOUT;
	return 0;
}

/* Whether the flow s must end before packet p joins it, and why
 * (SNIFFER_FLOW_END_*), or 0: it is due at `now` (the latest time seen,
 * p's included: a capture's clock may step back, and a flow that was due
 * stays ended), or p opens a new connection on its 5-tuple: any SYN once
 * the flow has closed (FIN both ways or a RST), or, on an open flow, a SYN
 * whose sequence number differs from the flow's first SYN (a SYN repeating
 * it on an open flow is a retransmission). */
SNIFFER_INLINE int sniffer_flow_end_before(const struct sniffer_flow_state *s, const struct sniffer_flow_packet *p,
					   __u64 now, const struct sniffer_flow_params *prm)
{
	int due = sniffer_flow_due_reason(s, now, prm);
	if (due)
		return due;
	if (sniffer_is_syn_only(p)) {
		/* A closed flow's grace is for its late ACKs and FINs: any SYN
		 * opens a new connection, a retry of a refused one included (same
		 * sequence number: Zeek logs one REJ per attempt). */
		if (sniffer_flow_closed(s))
			return sniffer_flow_close_reason(s);
		if ((s->tcp & SNIFFER_TCP_HAS_SYN_SEQ) && p->tcp_seq != s->syn_seq)
			return SNIFFER_FLOW_END_PORT_REUSE;
	}
	return 0;
}

/* After adding p: notes when the flow closed, and returns 1 when an
 * active-timeout update is due now (the caller sends the record, then
 * increments update_count). */
SNIFFER_INLINE int sniffer_flow_after_add(struct sniffer_flow_state *s, const struct sniffer_flow_packet *p,
					  const struct sniffer_flow_params *prm)
{
	if (!(s->tcp & SNIFFER_TCP_CLOSING) && sniffer_flow_closed(s)) {
		s->tcp |= SNIFFER_TCP_CLOSING;
		s->closing_since = p->ts;
	}
	if (!sniffer_due(s->next_update_ts, p->ts))
		return 0;
	s->next_update_ts = sniffer_later(p->ts, prm->active_timeout_ns);
	return 1;
}

#endif /* SNIFFER_FLOW_UPDATE_H */
