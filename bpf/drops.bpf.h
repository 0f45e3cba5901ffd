/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Kernel drop reasons: a raw tracepoint program on skb:kfree_skb counts the
 * packets the kernel frees with a drop reason (a firewall rule, no route, a
 * reverse-path filter failure, a full queue, ...) whose device, or input
 * interface, is a monitored interface of the sensor's network namespace, in
 * kernel_drops by interface slot, reason and protocol class (abi.h).
 *
 * Tracing program types with BTF arguments (tp_btf, fentry) are not available
 * on the reference kernel: the raw tracepoint's arguments give the sk_buff's
 * address, and its fields are read with CO-RE reads.
 * Loaded only when the daemon found the tracepoint and the reasons in the
 * kernel's BTF (drops.enabled); the user engine has the map, not the program.
 * With flows on (either aggregation), each counted IP packet (of a reason not
 * ignored) also yields a drop record (abi.h) so that its flow counts it: the
 * daemon does the counting, as a tracing program cannot use the kernel flow
 * map (its values hold a spin lock).
 */
#ifndef SNIFFER_DROPS_BPF_H
#define SNIFFER_DROPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SNIFFER_MAX_DROP_KEYS);
	__type(key, struct sniffer_drop_key);
	__type(value, __u64);
} kernel_drops SEC(".maps");

#ifndef SNIFFER_USERSPACE
#include <bpf/bpf_core_read.h>

/* The sensor's network namespace (its inode number): ifindexes are per
 * namespace, and the tracepoint sees every namespace's packets. */
SNIFFER_LOADER_CONST __u32 cfg_drops_netns = 0;
/* 1: send a drop record per counted IP packet (flows on). */
SNIFFER_LOADER_CONST __u8 cfg_drops_records = 0;
/* 1: the reason is in drops.reasons_ignored. */
SNIFFER_LOADER_CONST __u8 cfg_drops_ignored[SNIFFER_DROP_IGNORABLE_REASONS] = {};

#define SNIFFER_NO_HEADER 0xffff /* skb->network_header unset (~0U as a u16) */
#define SNIFFER_EEXIST 17        /* vmlinux.h has no errno values */

/* The protocol class of the freed packet, from its network header (the L4
 * protocol byte: IPv4 at offset 9, IPv6 next header at 6; an IPv6 extension
 * header counts as OTHER). */
static __always_inline __u32 dropped_class(struct sk_buff *skb, __u16 ethertype)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	if (!head || nh == SNIFFER_NO_HEADER)
		return SNIFFER_CLASS_OTHER;
	__u8 l4 = 0;
	if (ethertype == ETH_P_IP) {
		if (bpf_probe_read_kernel(&l4, 1, head + nh + 9))
			return SNIFFER_CLASS_OTHER;
		if (l4 == PROTO_ICMP)
			return SNIFFER_CLASS_ICMP;
	} else if (ethertype == ETH_P_IPV6) {
		if (bpf_probe_read_kernel(&l4, 1, head + nh + 6))
			return SNIFFER_CLASS_OTHER;
		if (l4 == PROTO_ICMPV6)
			return SNIFFER_CLASS_ICMP;
	} else {
		return SNIFFER_CLASS_OTHER;
	}
	return l4 == PROTO_TCP ? SNIFFER_CLASS_TCP : l4 == PROTO_UDP ? SNIFFER_CLASS_UDP : SNIFFER_CLASS_OTHER;
}

/* Namespaces by address (struct net *): the sensor's once seen, and the last
 * other one seen, so that a packet dropped in another namespace costs two
 * probe reads (the device, its namespace) instead of three. Both are exact:
 * the sensor's namespace cannot be freed, nor its address reused, while the
 * daemon that holds this program runs in it, so an address once found to be
 * another namespace's never becomes the sensor's. A race between CPUs writes
 * one valid address or another. */
__u64 drops_own_net = 0;
__u64 drops_other_net = 0;

/* Whether dev is in the sensor's network namespace (cfg_drops_netns). */
static __always_inline bool in_sensor_netns(struct net_device *dev)
{
	__u64 net = (__u64)BPF_CORE_READ(dev, nd_net.net);
	if (net == drops_own_net)
		return net != 0;
	if (net == drops_other_net)
		return false;
	if (!net || BPF_CORE_READ((struct net *)net, ns.inum) != cfg_drops_netns) {
		drops_other_net = net;
		return false;
	}
	drops_own_net = net;
	return true;
}

/* The monitored interface the drop belongs to, into *cfg: the skb's device,
 * else its input interface (iface_config(): the direct-mapped copy first);
 * false when neither is monitored or the device is in another network
 * namespace (or there is none). */
static __always_inline bool dropped_on(struct sk_buff *skb, struct sniffer_iface_config *cfg)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (!dev || !in_sensor_netns(dev))
		return false;
	if (iface_config(BPF_CORE_READ(dev, ifindex), cfg))
		return true;
	return iface_config(BPF_CORE_READ(skb, skb_iif), cfg);
}

/* One more packet under `key`; a key the full map cannot take is counted
 * under SNIFFER_DROP_MAP_FULL (slot 0, inserted by the daemon). */
static __always_inline void count_drop(struct sniffer_drop_key *key)
{
	__u64 *n = bpf_map_lookup_elem(&kernel_drops, key);
	if (n) {
		*n += 1; /* per CPU; tracing programs do not nest on a CPU */
		return;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(&kernel_drops, key, &one, BPF_NOEXIST);
	if (err == 0)
		return;
	if (err == -SNIFFER_EEXIST) { /* inserted meanwhile by another CPU: this CPU's value is 0 */
		n = bpf_map_lookup_elem(&kernel_drops, key);
	} else {
		struct sniffer_drop_key full = {.reason = SNIFFER_DROP_MAP_FULL, .proto_class = SNIFFER_CLASS_OTHER};
		n = bpf_map_lookup_elem(&kernel_drops, &full);
	}
	if (n)
		*n += 1;
}

/* The transport protocol of a dropped IPv6 packet and its offset from the
 * IPv6 header, past the extension headers as parse_ipv6() walks them (the
 * same bound), so that the drop finds the flow the programs keyed on it.
 * False (l4_proto set, no ports to read) for a later fragment or a header that
 * could not be read. */
static __always_inline bool dropped_ipv6_transport(unsigned char *ip, __u8 next, __u32 *off,
						   struct sniffer_drop_record *r)
{
	for (int i = 0; i < SNIFFER_IPV6_MAX_EXT_HDRS; i++) {
		if (next != NEXTHDR_FRAGMENT && !ipv6_is_ext_hdr(next))
			break;
		__u8 eh[4];
		if (bpf_probe_read_kernel(eh, sizeof eh, ip + *off)) {
			r->l4_proto = next;
			return false;
		}
		if (next == NEXTHDR_FRAGMENT) {
			next = eh[0];
			*off += 8;
			if (((eh[2] << 8) | eh[3]) & 0xfff8) { /* not the first fragment */
				r->l4_proto = next;
				return false;
			}
			continue;
		}
		*off += ipv6_ext_hdr_len(next, eh[1]);
		next = eh[0];
	}
	r->l4_proto = next;
	/* Past the bound `next` is still an extension header: no ports to read. */
	return next != NEXTHDR_FRAGMENT && !ipv6_is_ext_hdr(next);
}

/* The dropped packet's addresses and ports, from its network header (bounded
 * reads of the skb's head). False when it is not IP or the header is not set. */
static __always_inline bool dropped_tuple(struct sk_buff *skb, __u16 ethertype, struct sniffer_drop_record *r)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	if (!head || nh == SNIFFER_NO_HEADER)
		return false;
	unsigned char *ip = head + nh;
	__u8 h[40];
	__u32 l4_offset;
	if (ethertype == ETH_P_IP) {
		if (bpf_probe_read_kernel(h, 20, ip) || (h[0] >> 4) != 4)
			return false;
		r->ip_version = 4;
		r->l4_proto = h[9];
		__builtin_memcpy(r->saddr, &h[12], 4);
		__builtin_memcpy(r->daddr, &h[16], 4);
		if ((h[6] & 0x1f) || h[7]) /* a later fragment: no ports */
			return true;
		l4_offset = (h[0] & 0x0f) * 4;
	} else if (ethertype == ETH_P_IPV6) {
		if (bpf_probe_read_kernel(h, 40, ip) || (h[0] >> 4) != 6)
			return false;
		r->ip_version = 6;
		__builtin_memcpy(r->saddr, &h[8], 16);
		__builtin_memcpy(r->daddr, &h[24], 16);
		l4_offset = 40;
		if (!dropped_ipv6_transport(ip, h[6], &l4_offset, r))
			return true; /* a later fragment, or a header not readable: no ports */
	} else {
		return false;
	}
	__u16 ports[2];
	if ((r->l4_proto == PROTO_TCP || r->l4_proto == PROTO_UDP || r->l4_proto == PROTO_SCTP) &&
	    !bpf_probe_read_kernel(ports, sizeof ports, ip + l4_offset)) {
		r->sport = bpf_ntohs(ports[0]);
		r->dport = bpf_ntohs(ports[1]);
	}
	return true;
}

/* A drop record for the daemon's flow table; one the ring cannot take is counted. */
static __always_inline void send_drop_record(struct sk_buff *skb, __u16 ethertype, __u32 ifindex, __u32 reason)
{
	struct sniffer_drop_record r = {.magic = SNIFFER_DROP_RECORD_MAGIC,
					.abi_version = SNIFFER_ABI_VERSION,
					.record_len = sizeof(struct sniffer_drop_record),
					.ifindex = ifindex,
					.reason = reason};
	if (!dropped_tuple(skb, ethertype, &r))
		return;
	r.ts_mono_ns = bpf_ktime_get_ns();
	void *ring = events_ring(r.saddr, r.sport, r.daddr, r.dport, r.l4_proto);
	if (!ring || bpf_ringbuf_output(ring, &r, sizeof r, wakeup_flag(ring, (sizeof r + 8 + 7) & ~7u, false))) {
		struct sniffer_drop_key full = {.reason = SNIFFER_DROP_RING_FULL, .proto_class = SNIFFER_CLASS_OTHER};
		__u64 *n = bpf_map_lookup_elem(&kernel_drops, &full);
		if (n)
			*n += 1;
	}
}

/* A raw tracepoint: the arguments as the kernel passes them (skb, location,
 * reason, ...), with no trace record filled first. In the lab every forwarded
 * packet is dropped again in the LAN peer's namespace: there the program costs
 * the generator ~25 ns a packet, bpf_stats off (bench/README.md, peers.sh).
 * tp_btf, which would also spare the probe reads, is missing on the reference
 * kernel. A kernel whose tracepoint has no reason argument refuses the
 * attach (the daemon checks the reasons in its BTF before). */
SEC("raw_tracepoint/kfree_skb")
int sniffer_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	struct sniffer_iface_config cfg;
	if (!dropped_on(skb, &cfg))
		return 0;
	__u32 reason = (__u32)ctx->args[2];
	__u16 ethertype = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	struct sniffer_drop_key key = {.reason = reason, .stats_slot = cfg.stats_slot};
	if (reason < SNIFFER_DROP_IGNORABLE_REASONS && cfg_drops_ignored[reason])
		key.reason = SNIFFER_DROP_IGNORED;
	key.proto_class = dropped_class(skb, ethertype);
	count_drop(&key);
	if (cfg_drops_records && key.reason != SNIFFER_DROP_IGNORED) /* ignored: counted, no record */
		send_drop_record(skb, ethertype, cfg.ifindex, key.reason);
	return 0;
}
#endif /* !SNIFFER_USERSPACE */

#endif /* SNIFFER_DROPS_BPF_H */
