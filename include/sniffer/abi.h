/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel/user contract of sniffer: every type that crosses the boundary
 * between the BPF programs (bpf/) and the daemon (src/). This is the only
 * definition of these layouts; it compiles as BPF C (after vmlinux.h) and as
 * C++. Fixed-width fields, explicit padding, no bitfields, no pointers, no
 * enum-typed fields. Every size and offset is asserted at the bottom, so both
 * compilers check the same layout.
 *
 * Byte order: addresses are network byte order (as on the wire); ports,
 * EtherType, VLAN ids, TCP window, lengths and all other integers are host
 * byte order (the BPF program converts them).
 */
#ifndef SNIFFER_ABI_H
#define SNIFFER_ABI_H

#ifndef __VMLINUX_H__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>
#endif

/* Bumped whenever any layout below changes. */
#define SNIFFER_ABI_VERSION 9
/* First word of every ring record, read as a little-endian u32: "SNFR" for a
 * packet record, "SNFL" for a flow record (kernel flow aggregation), "SNFD"
 * for a drop record (kernel drop reasons). */
#define SNIFFER_RECORD_MAGIC 0x52464e53u
#define SNIFFER_FLOW_RECORD_MAGIC 0x4c464e53u
#define SNIFFER_DROP_RECORD_MAGIC 0x44464e53u

/* ---- map names (at most 15 characters: the kernel truncates longer) ---- */
#define SNIFFER_MAP_IFACE_CONFIGS "iface_configs"
#define SNIFFER_MAP_FILTER_SETTINGS "filter_settings"
#define SNIFFER_MAP_PORT_FILTERS "port_filters"
#define SNIFFER_MAP_EVENTS "events"
#define SNIFFER_MAP_EVENT_RINGS "event_rings"
#define SNIFFER_MAP_STATS "stats"
#define SNIFFER_MAP_BLOCK_SETTINGS "block_settings"
#define SNIFFER_MAP_BLOCK_SRC_V4 "block_src_v4"
#define SNIFFER_MAP_BLOCK_SRC_V6 "block_src_v6"
#define SNIFFER_MAP_BLOCK_DST_V4 "block_dst_v4"
#define SNIFFER_MAP_BLOCK_DST_V6 "block_dst_v6"
#define SNIFFER_MAP_ALLOW_V4 "allow_v4"
#define SNIFFER_MAP_ALLOW_V6 "allow_v6"
#define SNIFFER_MAP_FLOWS "flows"
#define SNIFFER_MAP_LOCAL_ADDRS "local_addrs"
#define SNIFFER_MAP_KERNEL_DROPS "kernel_drops"

#define SNIFFER_MAX_IFACES 64
#define SNIFFER_MAX_PORT_FILTERS 8192
/* Host addresses the programs know (local_addrs), for kernel flow aggregation. */
#define SNIFFER_MAX_LOCAL_ADDRS 256
/* Workers (capture.workers): one "events" ring each; event_rings, an
 * ARRAY_OF_MAPS of this many, holds them ("events" is worker 0's). */
#define SNIFFER_MAX_WORKERS 16
/* Upper bound of the per-record payload snippet. */
#define SNIFFER_MAX_PAYLOAD_BYTES 512

/* ---- iface_configs: HASH, key __u32 ifindex ---- */
#define SNIFFER_MODE_HOST_BASED 1
#define SNIFFER_MODE_GATEWAY 2

struct sniffer_iface_config {
	__u32 ifindex;
	__u8 mode;          /* SNIFFER_MODE_* */
	__u8 is_wan_facing; /* 1 for the WAN role, 0 for LAN */
	__u8 stats_slot;    /* 1..SNIFFER_MAX_IFACES-1: this interface's block of counters in "stats" */
	__u8 blocklist;     /* 1: ingress packets are checked against the blocklist */
};

/* iface_cache (a global of the programs, .bss): a direct-mapped copy of
 * iface_configs in front of it. Slot ifindex % SNIFFER_IFACE_CACHE_SLOTS
 * holds one interface's struct sniffer_iface_config whole, as one 8-byte word
 * (stored and loaded at once, so never seen half written), or 0. Only the
 * daemon writes it, with iface_configs (BpfPrograms::set_interface stores the
 * entry after the map update, remove_interface clears it before the delete):
 * a word whose ifindex is the packet's is that interface's current entry; any
 * other word sends the program to the map. Writers of iface_configs must go
 * through those two functions. */
#define SNIFFER_IFACE_CACHE_SLOTS 64

/* ---- filter_settings: ARRAY, one entry (key 0) ---- */
/* Zero is "capture" so that an unfilled map captures everything. */
#define SNIFFER_ACTION_CAPTURE 0
#define SNIFFER_ACTION_SKIP 1

/* port_bits: bit (port % 64) of word (port / 64) is set for every port that
 * has a port_filters entry, and for no other once the daemon's update of the
 * filter returns (it writes this value last). The programs look a port up in
 * port_filters only when its bit is set: most packets match no rule, and then
 * cost two bit tests instead of two hash lookups. port_filters stays the
 * rules' source; the daemon (BpfPrograms::set_filter) is their only writer. */
#define SNIFFER_PORT_BITS_WORDS (65536 / 64)

struct sniffer_filter_settings {
	__u8 default_action;   /* SNIFFER_ACTION_*, applied when no port rule matches */
	__u8 has_port_rules;   /* 1 when port_filters holds entries (saves two lookups) */
	__u8 reserved[6];
	__u64 port_bits[SNIFFER_PORT_BITS_WORDS];
};

/* ---- port_filters: HASH, key __u16 port (host order), value __u8 bits ----
 * A packet matches a rule when its source or destination port does.
 * An include rule wins over an exclude rule, which wins over the default.
 * SNIFFER_PORT_RECORD (kernel flow aggregation): a packet with this port
 * always yields a packet record, whatever the sampling. */
#define SNIFFER_PORT_INCLUDE 1
#define SNIFFER_PORT_EXCLUDE 2
#define SNIFFER_PORT_RECORD 4

/* ---- blocklist (prevention) ----
 * LPM tries keyed by prefix: block_{src,dst}_v{4,6} hold the blocked
 * prefixes, allow_v{4,6} the prefixes that are never blocked (matched as
 * source or destination; the allowlist always wins). Checked on the ingress
 * hooks of interfaces whose iface_configs entry has blocklist = 1. */
struct sniffer_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4]; /* network order */
};

struct sniffer_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16]; /* network order */
};

#define SNIFFER_BLOCK_DROP 1  /* XDP_DROP / TC_ACT_SHOT */
#define SNIFFER_BLOCK_COUNT 2 /* count and mark, pass the packet */
/* Not a rule: the sensor's own address inside a block entry of that direction.
 * The entries over it do not apply to it (they still do to every other
 * address); its hits count the packets it let through. */
#define SNIFFER_BLOCK_EXEMPT 3

struct sniffer_block_entry {
	__u64 expires_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns); 0: never. Expired: ignored */
	__u64 hits;       /* packets matched (atomic add by the programs) */
	__u32 rule_id;    /* the daemon's rule: reason, origin, times */
	__u8 action;      /* SNIFFER_BLOCK_* */
	__u8 reserved[3];
};

struct sniffer_allow_entry {
	__u64 hits; /* packets that matched (atomic add) */
};

/* block_settings: ARRAY, one entry (key 0) */
struct sniffer_block_settings {
	__u8 monitor_only;   /* 1: every entry acts as SNIFFER_BLOCK_COUNT */
	__u8 record_dropped; /* 1: dropped packets still yield a record (verdict BLOCKED) */
	__u8 has_dst_rules;  /* 1: block_dst_* hold entries (saves two lookups) */
	__u8 active;         /* 1: any block entry exists; 0: no lookup at all (an empty blocklist is free) */
};

/* Record verdicts */
#define SNIFFER_VERDICT_PASS 0
#define SNIFFER_VERDICT_BLOCKED 1   /* dropped by a blocklist entry */
#define SNIFFER_VERDICT_MONITORED 2 /* matched a count-only entry (or monitor_only): passed */

/* ---- hooks ---- */
#define SNIFFER_HOOK_XDP_INGRESS 0
#define SNIFFER_HOOK_TC_INGRESS 1
#define SNIFFER_HOOK_TC_EGRESS 2
#define SNIFFER_NUM_HOOKS 3

/* ---- protocol classes of the per-hook counters ---- */
#define SNIFFER_CLASS_TCP 0
#define SNIFFER_CLASS_UDP 1
#define SNIFFER_CLASS_ICMP 2 /* ICMP and ICMPv6 */
#define SNIFFER_CLASS_OTHER 3 /* everything else, non-IP included */
#define SNIFFER_NUM_CLASSES 4

/* ---- stats: PERCPU_ARRAY of __u64, one block of SNIFFER_NUM_STATS named
 * counters per interface: counter c of the interface in slot s is at index
 * SNIFFER_STAT_INDEX(s, c). Slot 0 holds what belongs to no configured
 * interface (SNIFFER_STAT_UNCONFIGURED). Within a block, per hook and class:
 * packets at SNIFFER_STAT_PACKETS(h, c), bytes at SNIFFER_STAT_BYTES(h, c);
 * then the named counters of SNIFFER_STATS.
 * Accounting identity, per interface and in total:
 *   packets = records emitted + ring reserve failures + filtered + blocked unrecorded
 * With kernel flow aggregation (flows.aggregation = "kernel") it reads:
 *   packets = records + ring reserve failures + filtered + blocked unrecorded + sampled out */
#define SNIFFER_STAT_PACKETS(hook, cls) (((hook) * SNIFFER_NUM_CLASSES + (cls)) * 2)
#define SNIFFER_STAT_BYTES(hook, cls) (SNIFFER_STAT_PACKETS(hook, cls) + 1)
#define SNIFFER_STAT_FIRST_NAMED (SNIFFER_NUM_HOOKS * SNIFFER_NUM_CLASSES * 2)

/* The named counters: the one list that the programs' indices, the JSON
 * report, the Prometheus metrics and the tests are made from. In index order
 * from SNIFFER_STAT_FIRST_NAMED, without gaps (asserted below); the indices
 * are ABI.
 *   X(ID, index, key, family, labels, kind, help)
 *   ID      the programs count at SNIFFER_STAT_<ID>
 *   key     its name in the report: kernel.<key> and kernel.interfaces.<name>.<key>
 *   family  the Prometheus metric it is a sample of
 *   labels  that sample's labels, "name=value" or "interface" (the interface's
 *           name) separated by commas. Without "interface" the counter is
 *           reported in total only (not per interface).
 *   kind    COUNTER or GAUGE (the ring fill: the daemon keeps the largest value
 *           of any CPU, bpf_loader.cpp)
 *   help    what it counts */
#define SNIFFER_STATS(X)                                                                                        \
	X(RECORDS, 24, "records", "sniffer_records_total", "interface", COUNTER,                                \
	  "records submitted to the ring")                                                                      \
	X(RINGBUF_FULL, 25, "ringbuf_full", "sniffer_dropped_total", "stage=kernel,reason=ring_full,interface", \
	  COUNTER, "bpf_ringbuf_reserve failed: record lost")                                                   \
	X(PARSE_ERROR, 26, "parse_errors", "sniffer_parse_errors_total", "interface", COUNTER,                  \
	  "truncated or malformed headers (the record is still sent)")                                          \
	X(FILTERED, 27, "filtered", "sniffer_dropped_total", "stage=kernel,reason=filtered,interface", COUNTER, \
	  "skipped by the port filter or the default action")                                                   \
	X(UNCONFIGURED, 28, "unconfigured", "sniffer_dropped_total", "stage=kernel,reason=unconfigured_interface", \
	  COUNTER, "packets on an ifindex without an iface_configs entry (no record)")                          \
	X(RING_FILL, 29, "ring_fill_bytes", "sniffer_ring_buffer_fill_bytes", "", GAUGE,                        \
	  "ring bytes queued, as last seen by this CPU")                                                        \
	X(BLOCKED, 30, "blocked", "sniffer_blocklist_packets_total", "interface,result=dropped", COUNTER,       \
	  "dropped by a blocklist entry")                                                                       \
	X(BLOCK_MONITORED, 31, "block_monitored", "sniffer_blocklist_packets_total", "interface,result=monitored", \
	  COUNTER, "matched a count-only entry: passed")                                                        \
	X(BLOCKED_UNRECORDED, 32, "blocked_unrecorded", "sniffer_dropped_total",                                \
	  "stage=kernel,reason=blocked_unrecorded,interface", COUNTER,                                          \
	  "dropped without a record (block_settings.record_dropped = 0)")                                       \
	X(ALLOWED, 33, "allowed", "sniffer_blocklist_packets_total", "interface,result=allowed", COUNTER,       \
	  "matched the allowlist on a blocklist interface")                                                     \
	X(SAMPLED_OUT, 34, "sampled_out", "sniffer_dropped_total", "stage=kernel,reason=sampled_out,interface", \
	  COUNTER, "kernel flow aggregation: aggregated without a packet record (flows.packet_sample_one_in)")  \
	X(FLOW_PACKETS, 35, "flow_packets", "sniffer_kernel_flow_packets_total", "interface", COUNTER,          \
	  "kernel flow aggregation: packets added to a flow")                                                   \
	X(FLOW_SKIPPED, 36, "flow_skipped", "sniffer_kernel_flow_skipped_total", "interface", COUNTER,          \
	  "kernel flow aggregation: not flow material (no IP header read, or a forwarded packet at TC egress)") \
	X(FLOW_RECORDS, 37, "flow_records", "sniffer_kernel_flow_records_total", "interface", COUNTER,          \
	  "kernel flow aggregation: flow records submitted to the ring")                                        \
	X(FLOW_RING_FULL, 38, "flow_ringbuf_full", "sniffer_dropped_total",                                     \
	  "stage=kernel,reason=flow_ring_full,interface", COUNTER,                                              \
	  "kernel flow aggregation: flow record lost, the ring was full")                                       \
	X(FLOW_MAP_FULL, 39, "flow_map_full", "sniffer_kernel_flow_update_failures_total",                      \
	  "interface,reason=map_full", COUNTER,                                                                 \
	  "kernel flow aggregation: no room for a new flow, its packet left as a one-packet record")            \
	X(SPLIT_L4_FRAGMENT, 40, "split_l4_fragments", "sniffer_split_l4_fragments_total", "interface",         \
	  COUNTER, "fragments that split the transport header (RFC 1858: tiny, or overlapping it)")

/* SNIFFER_STAT_RECORDS = 24, ... (an enum: a macro cannot define macros). */
#define SNIFFER_STAT_INDEX_(id, index, ...) SNIFFER_STAT_##id = (index),
enum sniffer_stat { SNIFFER_STATS(SNIFFER_STAT_INDEX_) };
/* The position of each in the list: the block ends after the last. */
#define SNIFFER_STAT_POSITION_(id, ...) SNIFFER_STAT_POSITION_##id,
enum sniffer_stat_position {
	SNIFFER_STAT_POSITION_BEFORE_FIRST_ = SNIFFER_STAT_FIRST_NAMED - 1,
	SNIFFER_STATS(SNIFFER_STAT_POSITION_) SNIFFER_STAT_POSITION_END_
};
#define SNIFFER_NUM_STATS ((int)SNIFFER_STAT_POSITION_END_)
#define SNIFFER_STAT_INDEX(slot, counter) ((slot) * SNIFFER_NUM_STATS + (counter))

/* ---- ring record flags ---- */
#define SNIFFER_FRAG_DF 0x01        /* IPv4 don't-fragment */
#define SNIFFER_FRAG_MF 0x02        /* more fragments follow */
#define SNIFFER_FRAG_FRAGMENT 0x04  /* part of a fragmented datagram */
#define SNIFFER_FRAG_NOT_FIRST 0x08 /* offset > 0: no L4 header in this packet */

#define SNIFFER_PARSE_TRUNCATED 0x01     /* the packet ended inside a header */
#define SNIFFER_PARSE_MALFORMED 0x02     /* a header field is impossible (IHL < 5, ...) */
#define SNIFFER_PARSE_VLAN_EXCESS 0x04   /* more VLAN tags (2) or MPLS labels (SNIFFER_MPLS_MAX_LABELS) than the parser reads */
#define SNIFFER_PARSE_EXTHDR_LIMIT 0x08  /* IPv6 extension chain longer than the walk bound */
#define SNIFFER_PARSE_BAD_LENGTH 0x10    /* IP length field beyond the frame, or IPv6 length 0 (no jumbo) */
/* With TRUNCATED: the capture cut the TCP/UDP fixed header (20/8 bytes) after
 * its ports. Ports valid; the other fields are those whose bytes were
 * captured, 0 past the cut: TCP seq (8 bytes captured), ack (12), data offset
 * and flags (14: l4_hdr_len is then set), window (16). No payload offset. */
#define SNIFFER_PARSE_L4_CUT 0x20
/* IPv4 total length 0 (a capture on a host with TCP segmentation offload):
 * ip_total_len is the frame's length from the IPv4 header on (the original
 * length, Ethernet padding included), not the header's. */
#define SNIFFER_PARSE_IP_LEN_FROM_FRAME 0x40
/* A fragment that splits the transport header (RFC 1858, RFC 8200 4.5): a
 * first fragment whose datagram ends before the fixed TCP (20 bytes), UDP,
 * ICMP (8) or SCTP (12) header does, or (IPv6) inside the extension chain;
 * or a later TCP fragment at offset 8 or 16, inside the fixed header (the
 * overlap attack). What the record holds is what this fragment holds: the
 * other fragment's fields (TCP flags, ...) are not seen. Counted in
 * SNIFFER_STAT_SPLIT_L4_FRAGMENT. */
#define SNIFFER_PARSE_SPLIT_L4 0x80
#define SNIFFER_PARSE_ALL_FLAGS 0xff

/* Extension headers (the fragment header included) the IPv6 walk steps over:
 * the transport header after that many is read; after more, it is not
 * (SNIFFER_PARSE_EXTHDR_LIMIT). */
#define SNIFFER_IPV6_MAX_EXT_HDRS 16
/* MPLS label stack entries the parser walks to the bottom of the stack. */
#define SNIFFER_MPLS_MAX_LABELS 4

/*
 * One packet observation, followed in the ring by its snippet area, of which
 * snippet_len bytes are valid. The area is the snippet's length rounded up to
 * a multiple of 8 when that is less than both the payload capacity (the
 * configured payload_bytes, fixed for a run) and 64, else the capacity: from
 * 0 to the capacity bytes (since ABI 9; before, always the capacity).
 * record_len covers both: sizeof(struct sniffer_record) + the area.
 */
struct sniffer_record {
	__u32 magic;         /* SNIFFER_RECORD_MAGIC */
	__u16 abi_version;   /* SNIFFER_ABI_VERSION */
	__u16 record_len;    /* sizeof(struct sniffer_record) + snippet area (0..payload capacity) */
	__u64 ts_mono_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, not wall time */
	__u32 ifindex;
	__u32 wire_len;      /* frame length from the Ethernet header on */
	__u8 hook;           /* SNIFFER_HOOK_* */
	__u8 mode;           /* SNIFFER_MODE_* of the interface */
	__u8 is_wan_facing;
	__u8 ip_version;     /* 4, 6, or 0 when not IP */
	__u8 l4_proto;       /* IPPROTO_* (for IPv6: after the extension headers) */
	__u8 tcp_flags;      /* TCP header byte 13: FIN 0x01 ... CWR 0x80 */
	__u8 ttl;            /* IPv4 TTL or IPv6 hop limit */
	__u8 vlan_count;     /* VLAN tags parsed, 0..2 */
	__u16 ethertype;     /* EtherType after the VLAN tags (0x8847/0x8848 for MPLS: the IP header is below the labels) */
	__u16 vlan_ids[2];   /* 12-bit VIDs, outer tag first */
	__u16 sport;         /* 0 when the packet has no ports */
	__u16 dport;
	__u16 tcp_window;    /* raw, unscaled */
	__u16 l3_hdr_len;    /* IPv4 header incl. options, or IPv6 header + extension headers */
	__u16 l4_hdr_len;    /* TCP data offset * 4, UDP 8, ICMP/ICMPv6 8 */
	__u16 ip_total_len;  /* IPv4 total length, or IPv6 payload length + 40 */
	__u16 frag_offset;   /* fragment offset in bytes */
	__u8 frag_flags;     /* SNIFFER_FRAG_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 parse_flags;    /* SNIFFER_PARSE_* */
	__u8 saddr[16];      /* network order; IPv4 in the first 4 bytes, rest zero */
	__u8 daddr[16];
	__u32 frag_id;       /* IPv4 identification or IPv6 fragment id */
	__u16 payload_offset; /* L4 payload start, from the Ethernet header */
	__u16 snippet_len;   /* valid bytes in the snippet area after this struct */
	__u32 tcp_seq;       /* raw sequence number */
	__u32 tcp_ack;       /* raw acknowledgment number */
	__u32 block_rule_id; /* the blocklist rule that matched, 0 for none */
	__u8 verdict;        /* SNIFFER_VERDICT_* */
	__u8 mpls_count;     /* MPLS labels parsed (after the VLAN tags), 0..SNIFFER_MPLS_MAX_LABELS */
	__u8 vlan_offloaded; /* 1: vlan_ids[0] came from the skb (TC), not the frame: the kernel
			      * or a NIC with VLAN offload holds the outer tag outside the frame */
	__u8 reserved;
};

/* ---- kernel flow aggregation (flows.aggregation = "kernel") ----
 * The programs keep one sniffer_flow_state per bidirectional flow in the
 * "flows" HASH map (value: struct sniffer_flow_value, under its spin lock)
 * and send a sniffer_flow_record through the ring when a flow ends or is
 * updated. The userspace flow table keeps the very same state: both update it
 * with the functions of sniffer/flow_update.h, so both compute the same
 * features. Times are the programs' clock (CLOCK_MONOTONIC; offline, the
 * capture's). */

/* Why a flow record was sent: the values of v1::FlowEndReason. */
#define SNIFFER_FLOW_END_FIN 1
#define SNIFFER_FLOW_END_RST 2
#define SNIFFER_FLOW_END_IDLE_TIMEOUT 3
#define SNIFFER_FLOW_END_ACTIVE_TIMEOUT 4
#define SNIFFER_FLOW_END_EVICTED 5
#define SNIFFER_FLOW_END_SHUTDOWN 6
#define SNIFFER_FLOW_END_END_OF_CAPTURE 7
#define SNIFFER_FLOW_END_PORT_REUSE 8
#define SNIFFER_FLOW_END_TABLE_FULL 9 /* the kernel map was full: the record holds this one packet */

/* Canonical bidirectional key: the (address, port) pair that sorts first
 * (bytewise address, then port) is side A. */
struct sniffer_flow_key {
	__u8 addr_a[16]; /* network order; IPv4 in the first 4 bytes, rest zero */
	__u8 addr_b[16];
	__u16 port_a;
	__u16 port_b;
	__u16 vlan_id;   /* outer VLAN id, 0 when untagged */
	__u8 l4_proto;
	__u8 ip_version;
};

/* count, sum, sum of squares (128 bits, lo + hi * 2^64), min, max of a
 * stream of integers: mean and sample standard deviation follow exactly. */
struct sniffer_moments {
	__u64 count;
	__u64 sum;
	__u64 sumsq_lo;
	__u64 sumsq_hi;
	__u64 min;
	__u64 max;
};

/* One direction of a flow ("forward" is the direction of the first packet). */
struct sniffer_flow_dir {
	struct sniffer_moments payload; /* L4 payload bytes per packet; count = packets */
	struct sniffer_moments iat_ns;  /* inter-arrival times within this direction */
	__u64 bytes;        /* frame bytes */
	__u64 header_bytes; /* L3 + L4 header bytes */
	__u64 data_packets; /* packets with payload */
	__u64 last_ts;
	__u64 last_data_ts;
	__u64 bulk_run_start; /* the candidate bulk run */
	__u64 bulk_run_last;
	__u64 bulk_run_packets;
	__u64 bulk_run_bytes;
	__u64 bulk_count; /* completed bulks */
	__u64 bulk_packets;
	__u64 bulk_bytes;
	__u64 bulk_duration_ns;
	__u32 psh;
	__u32 urg;
	__s32 init_window; /* -1 until a TCP header is seen */
	__u32 min_header;
};

#define SNIFFER_FLOW_HISTORY_LEN 24

/* Bits of sniffer_flow_state.tcp */
#define SNIFFER_TCP_SYN_ORIG 0x01
#define SNIFFER_TCP_SYNACK_RESP 0x02
#define SNIFFER_TCP_FIN_ORIG 0x04
#define SNIFFER_TCP_FIN_RESP 0x08
#define SNIFFER_TCP_RST_ORIG 0x10
#define SNIFFER_TCP_RST_RESP 0x20
#define SNIFFER_TCP_HAS_SYN_SEQ 0x40
#define SNIFFER_TCP_CLOSING 0x80 /* FIN both ways or a RST: ends after the close grace */

struct sniffer_flow_state {
	struct sniffer_flow_key key;
	__u64 flow_id;        /* 0: an entry not started yet */
	__u64 first_ts;
	__u64 last_ts;
	__u64 active_start;
	__u64 active_end;
	__u64 next_update_ts; /* active timeout: an update record is due (~0: never) */
	__u64 closing_since;  /* the packet that closed the flow (tcp & SNIFFER_TCP_CLOSING) */
	__u64 subflow_count;
	struct sniffer_flow_dir fwd;
	struct sniffer_flow_dir bwd;
	struct sniffer_moments iat_ns;    /* both directions */
	struct sniffer_moments active_ns; /* completed active periods */
	struct sniffer_moments idle_ns;
	__u32 flag_counts[8]; /* FIN SYN RST PSH ACK URG ECE CWR (bit order) */
	__u32 ifindex;        /* where the first packet was seen */
	__u32 update_count;   /* updates sent before this record */
	__u32 syn_seq;        /* sequence number of the first SYN */
	__u32 history_seen;   /* one bit per (letter, side) already in history */
	__u8 history[SNIFFER_FLOW_HISTORY_LEN]; /* Zeek-like, originator upper case */
	__u8 history_len;
	__u8 fwd_is_a_to_b; /* the first packet went from side A to side B */
	__u8 mode;          /* SNIFFER_MODE_* of the first packet's interface */
	__u8 is_wan_facing;
	__u8 tcp;           /* SNIFFER_TCP_* */
	/* The first packet's, for the flow's Community ID (community_id.hpp). */
	__u8 icmp_type;     /* ICMP/ICMPv6 type and code */
	__u8 icmp_code;
	__u8 no_l4_header;  /* a fragment after the first: no ports */
};

/* "flows" HASH value. The lock guards the state: a flow's packets may come
 * from several CPUs at once. */
struct sniffer_flow_value {
	struct bpf_spin_lock lock;
	__u32 reserved;
	struct sniffer_flow_state state;
};

/* A flow record in the ring. */
struct sniffer_flow_record {
	__u32 magic;        /* SNIFFER_FLOW_RECORD_MAGIC */
	__u16 abi_version;  /* SNIFFER_ABI_VERSION */
	__u16 record_len;   /* sizeof(struct sniffer_flow_record) */
	__u8 end_reason;    /* SNIFFER_FLOW_END_* */
	__u8 is_update;     /* 1: an active-timeout update; the flow goes on */
	__u8 reserved[6];
	struct sniffer_flow_state state;
};

/* local_addrs: HASH, key struct sniffer_local_addr, value __u8 (1): the host's
 * addresses. At TC egress, only packets from them belong to a flow; the
 * others are forwarded copies, already counted on ingress. */
struct sniffer_local_addr {
	__u8 ip_version;
	__u8 reserved[3];
	__u8 addr[16];
};

/* ---- kernel_drops: PERCPU_HASH, key struct sniffer_drop_key, value __u64
 * packets. The skb:kfree_skb tracepoint program (bpf/drops.bpf.h) counts the
 * packets the kernel frees with a drop reason on a monitored interface (the
 * skb's device, else its input interface, in the sensor's network namespace),
 * by the interface's stats slot, the reason (enum skb_drop_reason, named from
 * the kernel's BTF by the daemon) and the protocol class (SNIFFER_CLASS_*).
 * Two keys are not kernel reasons: SNIFFER_DROP_IGNORED (a reason of
 * drops.reasons_ignored, counted per interface without its name) and, in slot
 * 0, SNIFFER_DROP_MAP_FULL (the map had no room for a new key; the daemon
 * inserts that key before attaching, so it always exists). */
#define SNIFFER_MAX_DROP_KEYS 4096
/* Reasons below this may be ignored (cfg_drops_ignored, one byte each). */
#define SNIFFER_DROP_IGNORABLE_REASONS 512
#define SNIFFER_DROP_IGNORED 0xfffffffeu
#define SNIFFER_DROP_MAP_FULL 0xffffffffu
/* Slot 0: drop records the full ring could not take (inserted by the daemon). */
#define SNIFFER_DROP_RING_FULL 0xfffffffdu

struct sniffer_drop_key {
	__u32 reason;     /* enum skb_drop_reason, or SNIFFER_DROP_IGNORED / SNIFFER_DROP_MAP_FULL */
	__u8 stats_slot;  /* the interface's slot (iface_configs.stats_slot); 0 with SNIFFER_DROP_MAP_FULL */
	__u8 proto_class; /* SNIFFER_CLASS_* of the dropped packet */
	__u8 reserved[2];
};

/* One dropped IP packet of a monitored interface, for the daemon's flows
 * (either aggregation): its addresses and ports as on the wire,
 * so the flow it belongs to counts it (fwd or bwd). Sent through "events"
 * when cfg_drops_records is set; a record the full ring refuses is counted
 * under SNIFFER_DROP_RING_FULL. */
struct sniffer_drop_record {
	__u32 magic;       /* SNIFFER_DROP_RECORD_MAGIC */
	__u16 abi_version; /* SNIFFER_ABI_VERSION */
	__u16 record_len;  /* sizeof(struct sniffer_drop_record) */
	__u64 ts_mono_ns;  /* bpf_ktime_get_ns() */
	__u32 ifindex;     /* the monitored interface it was counted on */
	__u32 reason;      /* enum skb_drop_reason (never an ignored one: those send no record) */
	__u8 ip_version;   /* 4 or 6 */
	__u8 l4_proto;     /* IPPROTO_* (IPv6: the fixed header's next header) */
	__u16 sport;       /* host order; 0 without ports (not TCP/UDP, or a later fragment) */
	__u16 dport;
	__u8 reserved[2];
	__u8 saddr[16];    /* network order; IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

/* The flow table's tunables (the programs get them as constants). */
struct sniffer_flow_params {
	__u64 idle_timeout_ns;
	__u64 active_timeout_ns;
	__u64 tcp_close_grace_ns;
	__u64 activity_timeout_ns; /* active/idle split */
	__u64 subflow_gap_ns;
	__u64 bulk_gap_ns;
};

/* ---- full-packet capture on demand (bpf/capture.bpf.h, src/capture/) ----
 * capture_slots: ARRAY of SNIFFER_MAX_CAPTURES filters; the global
 * capture_active (.bss) has bit i set while slot i runs, so that a packet
 * pays one load and one branch when no capture runs. A packet that matches
 * one slot or more is copied once (up to the largest snap length of those
 * slots, at most SNIFFER_CAPTURE_MAX_BYTES) into a "captures" ring record.
 * capture_counts: PERCPU_ARRAY, key SNIFFER_CAPTURE_COUNT_INDEX(capture slot,
 * interface stats slot): what each capture matched and lost per interface. */
#define SNIFFER_MAP_CAPTURE_SLOTS "capture_slots"
#define SNIFFER_MAP_CAPTURE_COUNTS "capture_counts"
#define SNIFFER_MAP_CAPTURES "captures"
#define SNIFFER_MAP_CAPTURE_BUF "capture_buf"
#define SNIFFER_MAX_CAPTURES 8
#define SNIFFER_CAPTURE_MAX_BYTES 4096 /* a longer frame (jumbo, GSO) is cut and flagged */
#define SNIFFER_CAPTURE_RECORD_MAGIC 0x43464e53u /* "SNFC" */
#define SNIFFER_CAPTURE_COUNT_INDEX(capture, iface_slot) ((capture) * SNIFFER_MAX_IFACES + (iface_slot))

/* One side of a capture filter: a prefix (addr & mask == addr) and a port
 * (0: any). A zero mask matches every packet, IP or not. */
struct sniffer_capture_side {
	__u8 addr[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 mask[16];
	__u16 port;
	__u8 reserved[2];
};

/* A packet matches when side a matches its source and side b its
 * destination, or the other way round (so a flow's 5-tuple catches both
 * directions), and its IP version, protocol and interface match (0: any). */
struct sniffer_capture_filter {
	struct sniffer_capture_side a;
	struct sniffer_capture_side b;
	__u32 ifindex;
	__u32 snaplen;     /* frame bytes kept (beyond SNIFFER_CAPTURE_MAX_BYTES: cut, flagged) */
	__u8 ip_version;
	__u8 l4_proto;
	__u8 reserved[6];
};

struct sniffer_capture_counts {
	__u64 matched;   /* packets that matched the capture */
	__u64 ring_full; /* of those, lost: the captures ring had no room */
};

/* Why a record's data ends before the frame does (besides the snap length). */
#define SNIFFER_CAPTURE_CUT_RECORD 0x01 /* the frame is longer than SNIFFER_CAPTURE_MAX_BYTES */

/* Who produced a capture record: today the on-demand captures (slots holds
 * the matching ones); the same ring and copy (capture_emit) are meant for a
 * later producer, the first payload bytes of each flow's opening packets. */
#define SNIFFER_CAPTURE_SOURCE_SLOTS 1

/* A record in "captures": this header, then cap_len bytes of the frame from
 * data_offset on (0 for a whole frame). */
struct sniffer_capture_record {
	__u32 magic;         /* SNIFFER_CAPTURE_RECORD_MAGIC */
	__u16 abi_version;   /* SNIFFER_ABI_VERSION */
	__u16 cap_len;
	__u64 ts_mono_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 wire_len;      /* the whole frame's length */
	__u16 data_offset;
	__u8 slots;          /* bit i: capture slot i matched */
	__u8 hook;           /* SNIFFER_HOOK_* */
	__u8 flags;          /* SNIFFER_CAPTURE_CUT_* */
	__u8 source;         /* SNIFFER_CAPTURE_SOURCE_* */
	__u8 reserved[2];
};

#ifdef __cplusplus
#define SNIFFER_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define SNIFFER_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#define SNIFFER_ASSERT_OFFSET(type, field, off) \
	SNIFFER_STATIC_ASSERT(__builtin_offsetof(struct type, field) == (off), #type "." #field " offset")

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_iface_config) == 8, "iface_config size");
SNIFFER_ASSERT_OFFSET(sniffer_iface_config, ifindex, 0);
SNIFFER_ASSERT_OFFSET(sniffer_iface_config, mode, 4);
SNIFFER_ASSERT_OFFSET(sniffer_iface_config, is_wan_facing, 5);
SNIFFER_ASSERT_OFFSET(sniffer_iface_config, stats_slot, 6);
SNIFFER_ASSERT_OFFSET(sniffer_iface_config, blocklist, 7);

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_filter_settings) == 8 + 8192, "filter_settings size");
SNIFFER_ASSERT_OFFSET(sniffer_filter_settings, default_action, 0);
SNIFFER_ASSERT_OFFSET(sniffer_filter_settings, has_port_rules, 1);
SNIFFER_ASSERT_OFFSET(sniffer_filter_settings, reserved, 2);
SNIFFER_ASSERT_OFFSET(sniffer_filter_settings, port_bits, 8);

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_record) == 112, "record size");
SNIFFER_ASSERT_OFFSET(sniffer_record, magic, 0);
SNIFFER_ASSERT_OFFSET(sniffer_record, abi_version, 4);
SNIFFER_ASSERT_OFFSET(sniffer_record, record_len, 6);
SNIFFER_ASSERT_OFFSET(sniffer_record, ts_mono_ns, 8);
SNIFFER_ASSERT_OFFSET(sniffer_record, ifindex, 16);
SNIFFER_ASSERT_OFFSET(sniffer_record, wire_len, 20);
SNIFFER_ASSERT_OFFSET(sniffer_record, hook, 24);
SNIFFER_ASSERT_OFFSET(sniffer_record, mode, 25);
SNIFFER_ASSERT_OFFSET(sniffer_record, is_wan_facing, 26);
SNIFFER_ASSERT_OFFSET(sniffer_record, ip_version, 27);
SNIFFER_ASSERT_OFFSET(sniffer_record, l4_proto, 28);
SNIFFER_ASSERT_OFFSET(sniffer_record, tcp_flags, 29);
SNIFFER_ASSERT_OFFSET(sniffer_record, ttl, 30);
SNIFFER_ASSERT_OFFSET(sniffer_record, vlan_count, 31);
SNIFFER_ASSERT_OFFSET(sniffer_record, ethertype, 32);
SNIFFER_ASSERT_OFFSET(sniffer_record, vlan_ids, 34);
SNIFFER_ASSERT_OFFSET(sniffer_record, sport, 38);
SNIFFER_ASSERT_OFFSET(sniffer_record, dport, 40);
SNIFFER_ASSERT_OFFSET(sniffer_record, tcp_window, 42);
SNIFFER_ASSERT_OFFSET(sniffer_record, l3_hdr_len, 44);
SNIFFER_ASSERT_OFFSET(sniffer_record, l4_hdr_len, 46);
SNIFFER_ASSERT_OFFSET(sniffer_record, ip_total_len, 48);
SNIFFER_ASSERT_OFFSET(sniffer_record, frag_offset, 50);
SNIFFER_ASSERT_OFFSET(sniffer_record, frag_flags, 52);
SNIFFER_ASSERT_OFFSET(sniffer_record, icmp_type, 53);
SNIFFER_ASSERT_OFFSET(sniffer_record, icmp_code, 54);
SNIFFER_ASSERT_OFFSET(sniffer_record, parse_flags, 55);
SNIFFER_ASSERT_OFFSET(sniffer_record, saddr, 56);
SNIFFER_ASSERT_OFFSET(sniffer_record, daddr, 72);
SNIFFER_ASSERT_OFFSET(sniffer_record, frag_id, 88);
SNIFFER_ASSERT_OFFSET(sniffer_record, payload_offset, 92);
SNIFFER_ASSERT_OFFSET(sniffer_record, snippet_len, 94);
SNIFFER_ASSERT_OFFSET(sniffer_record, tcp_seq, 96);
SNIFFER_ASSERT_OFFSET(sniffer_record, tcp_ack, 100);
SNIFFER_ASSERT_OFFSET(sniffer_record, block_rule_id, 104);
SNIFFER_ASSERT_OFFSET(sniffer_record, verdict, 108);
SNIFFER_ASSERT_OFFSET(sniffer_record, mpls_count, 109);
SNIFFER_ASSERT_OFFSET(sniffer_record, vlan_offloaded, 110);
SNIFFER_ASSERT_OFFSET(sniffer_record, reserved, 111);

SNIFFER_STATIC_ASSERT((SNIFFER_PARSE_TRUNCATED | SNIFFER_PARSE_MALFORMED | SNIFFER_PARSE_VLAN_EXCESS |
		       SNIFFER_PARSE_EXTHDR_LIMIT | SNIFFER_PARSE_BAD_LENGTH | SNIFFER_PARSE_L4_CUT |
		       SNIFFER_PARSE_IP_LEN_FROM_FRAME | SNIFFER_PARSE_SPLIT_L4) == SNIFFER_PARSE_ALL_FLAGS &&
			      (SNIFFER_PARSE_TRUNCATED + SNIFFER_PARSE_MALFORMED + SNIFFER_PARSE_VLAN_EXCESS +
			       SNIFFER_PARSE_EXTHDR_LIMIT + SNIFFER_PARSE_BAD_LENGTH + SNIFFER_PARSE_L4_CUT +
			       SNIFFER_PARSE_IP_LEN_FROM_FRAME + SNIFFER_PARSE_SPLIT_L4) == SNIFFER_PARSE_ALL_FLAGS &&
			      SNIFFER_PARSE_ALL_FLAGS <= 0xff,
		      "parse flags: distinct bits of sniffer_record.parse_flags (__u8)");

#define SNIFFER_STAT_AT_POSITION_(id, ...) &&(int)SNIFFER_STAT_##id == (int)SNIFFER_STAT_POSITION_##id
SNIFFER_STATIC_ASSERT(1 SNIFFER_STATS(SNIFFER_STAT_AT_POSITION_),
		      "SNIFFER_STATS: indices in list order from SNIFFER_STAT_FIRST_NAMED, without gaps");
SNIFFER_STATIC_ASSERT(SNIFFER_NUM_STATS == 41,
		      "the stats block changed size: bump SNIFFER_ABI_VERSION, then this number");

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_lpm_v4) == 8, "lpm_v4 size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_lpm_v6) == 20, "lpm_v6 size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_block_entry) == 24, "block_entry size");
SNIFFER_ASSERT_OFFSET(sniffer_block_entry, hits, 8);
SNIFFER_ASSERT_OFFSET(sniffer_block_entry, rule_id, 16);
SNIFFER_ASSERT_OFFSET(sniffer_block_entry, action, 20);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_block_settings) == 4, "block_settings size");

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_key) == 40, "flow_key size");
SNIFFER_ASSERT_OFFSET(sniffer_flow_key, port_a, 32);
SNIFFER_ASSERT_OFFSET(sniffer_flow_key, vlan_id, 36);
SNIFFER_ASSERT_OFFSET(sniffer_flow_key, ip_version, 39);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_moments) == 48, "moments size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_dir) == 216, "flow_dir size");
SNIFFER_ASSERT_OFFSET(sniffer_flow_dir, bytes, 96);
SNIFFER_ASSERT_OFFSET(sniffer_flow_dir, psh, 200);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_state) == 760, "flow_state size");
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, flow_id, 40);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, fwd, 104);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, bwd, 320);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, iat_ns, 536);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, flag_counts, 680);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, ifindex, 712);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, history, 728);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, history_len, 752);
SNIFFER_ASSERT_OFFSET(sniffer_flow_state, tcp, 756);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_value) == 768, "flow_value size");
SNIFFER_ASSERT_OFFSET(sniffer_flow_value, state, 8);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_record) == 776, "flow_record size");
SNIFFER_ASSERT_OFFSET(sniffer_flow_record, end_reason, 8);
SNIFFER_ASSERT_OFFSET(sniffer_flow_record, state, 16);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_local_addr) == 20, "local_addr size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_flow_params) == 48, "flow_params size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_drop_key) == 8, "drop_key size");
SNIFFER_ASSERT_OFFSET(sniffer_drop_key, reason, 0);
SNIFFER_ASSERT_OFFSET(sniffer_drop_key, stats_slot, 4);
SNIFFER_ASSERT_OFFSET(sniffer_drop_key, proto_class, 5);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_drop_record) == 64, "drop_record size");
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, ts_mono_ns, 8);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, ifindex, 16);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, reason, 20);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, ip_version, 24);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, l4_proto, 25);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, sport, 26);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, dport, 28);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, saddr, 32);
SNIFFER_ASSERT_OFFSET(sniffer_drop_record, daddr, 48);

SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_capture_side) == 36, "capture_side size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_capture_filter) == 88, "capture_filter size");
SNIFFER_ASSERT_OFFSET(sniffer_capture_filter, b, 36);
SNIFFER_ASSERT_OFFSET(sniffer_capture_filter, ifindex, 72);
SNIFFER_ASSERT_OFFSET(sniffer_capture_filter, snaplen, 76);
SNIFFER_ASSERT_OFFSET(sniffer_capture_filter, ip_version, 80);
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_capture_counts) == 16, "capture_counts size");
SNIFFER_STATIC_ASSERT(sizeof(struct sniffer_capture_record) == 32, "capture_record size");
SNIFFER_ASSERT_OFFSET(sniffer_capture_record, ts_mono_ns, 8);
SNIFFER_ASSERT_OFFSET(sniffer_capture_record, wire_len, 20);
SNIFFER_ASSERT_OFFSET(sniffer_capture_record, data_offset, 24);
SNIFFER_ASSERT_OFFSET(sniffer_capture_record, slots, 26);
SNIFFER_ASSERT_OFFSET(sniffer_capture_record, source, 29);
SNIFFER_STATIC_ASSERT(SNIFFER_MAX_CAPTURES <= 8, "capture_record.slots is one bit per capture slot");

#endif /* SNIFFER_ABI_H */
