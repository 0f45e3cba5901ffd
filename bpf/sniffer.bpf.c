// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sniffer's kernel side: an XDP ingress program and TC ingress/egress
 * programs that parse each packet on a configured interface, count it, and
 * emit one fixed-layout record through the "events" ring buffer; with kernel
 * flow aggregation, they add it to its flow in the "flows" map instead and
 * emit flow records (packet records then only 1 in N). Every
 * program passes every packet, except on ingress of an interface with the
 * blocklist enabled, where a packet from (or to) a blocked prefix is dropped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sniffer/abi.h"
#include "sniffer/flow_update.h"
#include "sniffer/worker_shard.h"
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader between open and load (frozen .rodata: the verifier
 * sees them as constants, so the ring reservation size is a constant). The
 * user engine (SNIFFER_USERSPACE, src/engine) sets them before its first
 * packet: there they are plain globals, not const. */
#ifdef SNIFFER_USERSPACE
#define SNIFFER_LOADER_CONST volatile
#else
#define SNIFFER_LOADER_CONST const volatile
#endif
SNIFFER_LOADER_CONST __u32 cfg_payload_bytes = 0; /* snippet capacity, <= SNIFFER_MAX_PAYLOAD_BYTES */
SNIFFER_LOADER_CONST __u64 cfg_wakeup_bytes = 0;  /* 0: wake the reader per record */
SNIFFER_LOADER_CONST __u32 cfg_workers = 1;       /* capture.workers: rings, 1..SNIFFER_MAX_WORKERS */
/* With workers > 1: the steering key, random per load (sniffer/worker_shard.h). */
SNIFFER_LOADER_CONST __u32 cfg_worker_key[SNIFFER_WORKER_KEY_WORDS] = {};
SNIFFER_LOADER_CONST __u8 cfg_flow_kernel = 0;    /* 1: aggregate flows here (flows.aggregation "kernel") */
SNIFFER_LOADER_CONST __u32 cfg_packet_sample = 0; /* then 1 in N packets also yields a packet record; 0: none */
SNIFFER_LOADER_CONST struct sniffer_flow_params cfg_flow_params = {};

/* Offline replay (--read-pcap) writes these before each run of a captured
 * packet: its capture time and original length, which the flows then use,
 * and the latest capture time so far (a capture's clock may step back).
 * replay_active is 0 when live. */
__u64 replay_ts_ns = 0;
__u64 replay_clock_ns = 0;
__u32 replay_wire_len = 0;
__u8 replay_active = 0;
/* The last flow id handed out (ids start at 1; 0 marks an unstarted entry). */
__u64 last_flow_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SNIFFER_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct sniffer_iface_config);
} iface_configs SEC(".maps");

/* iface_configs' entries, direct-mapped, written by the daemon (abi.h,
 * SNIFFER_IFACE_CACHE_SLOTS); the user engine fills it once at its start
 * from its copy of the map, which nothing changes afterwards. */
__u64 iface_cache[SNIFFER_IFACE_CACHE_SLOTS] = {};

/* The interface's entry into *cfg: from iface_cache when its slot holds this
 * ifindex's entry, else from iface_configs. False: not a monitored interface. */
static __always_inline bool iface_config(__u32 ifindex, struct sniffer_iface_config *cfg)
{
	__u64 word = *(volatile __u64 *)&iface_cache[ifindex % SNIFFER_IFACE_CACHE_SLOTS];
	__builtin_memcpy(cfg, &word, sizeof(word));
	if (cfg->ifindex == ifindex && ifindex)
		return true;
	struct sniffer_iface_config *entry = bpf_map_lookup_elem(&iface_configs, &ifindex);
	if (!entry)
		return false;
	*cfg = *entry;
	return true;
}

/* Each concern in its header; they use the constants and globals above. */
#include "counters.bpf.h"
#include "ip_length.bpf.h"
#include "blocklist.bpf.h"
#include "filter.bpf.h"
#include "record.bpf.h"
#include "flows.bpf.h"
#include "capture.bpf.h"
#include "drops.bpf.h" /* the skb:kfree_skb tracepoint: packets the kernel dropped */

/*
 * The whole per-packet path, shared by every hook. ctx is the xdp_md or the
 * __sk_buff; is_xdp selects the helper that copies the payload snippet.
 * wire_len is the frame's length; skb_vlan is SKB_VLAN_PRESENT | TCI when
 * the skb holds the outer VLAN tag outside the frame (TC only), else 0.
 * Returns the verdict: SNIFFER_VERDICT_BLOCKED means drop the packet.
 */
static __always_inline int observe(void *ctx, bool is_xdp, void *data, void *data_end,
				   __u32 ifindex, __u32 wire_len, __u8 hook, __u32 skb_vlan)
{
	struct sniffer_iface_config cfg;
	if (!iface_config(ifindex, &cfg)) {
		stat_add(0, SNIFFER_STAT_UNCONFIGURED, 1);
		return SNIFFER_VERDICT_PASS;
	}
	__u32 slot = cfg.stats_slot;

#ifdef SNIFFER_USERSPACE
	/* The user engine builds the record, zeroed, in its ring's record area,
	 * where the reader takes it: no copy (record.bpf.h, send_in_area). */
	struct sniffer_record *rec = sniffer_user_new_record();
#else
	struct sniffer_record stack_rec = {};
	struct sniffer_record *rec = &stack_rec;
#endif
	if (skb_vlan) {
		rec->vlan_ids[0] = skb_vlan & 0x0fff;
		rec->vlan_count = 1;
		rec->vlan_offloaded = 1;
	}
	parse_packet(data, data_end, rec);
	/* Lengths in the frame stay frame_len; what is reported counts the
	 * offloaded tag as the wire carries it (and as XDP sees it). */
	__u32 frame_len = wire_len;
	wire_len += rec->vlan_offloaded * sizeof(struct vlan_tag);
	/* Offline, the frame's original length (the capture may have cut it). */
	check_ip_length(rec, frame_len, replay_active && replay_wire_len ? replay_wire_len : frame_len);
	int verdict = SNIFFER_VERDICT_PASS;
	if (cfg.blocklist && hook != SNIFFER_HOOK_TC_EGRESS)
		verdict = block_verdict(rec, slot);
	rec->verdict = verdict;
	/* Full-packet capture: one load and one branch while none runs. */
	if (capture_active)
		capture_packet(ctx, is_xdp, rec, ifindex, frame_len, hook, slot);

	__u32 cls = protocol_class(rec);
	stat_add(slot, SNIFFER_STAT_PACKETS(hook, cls), 1);
	stat_add(slot, SNIFFER_STAT_BYTES(hook, cls), wire_len);
	if (rec->parse_flags) {
		stat_add(slot, SNIFFER_STAT_PARSE_ERROR, 1);
		if (rec->parse_flags & SNIFFER_PARSE_SPLIT_L4)
			stat_add(slot, SNIFFER_STAT_SPLIT_L4_FRAGMENT, 1);
	}
	if (verdict == SNIFFER_VERDICT_BLOCKED && !record_dropped()) {
		stat_add(slot, SNIFFER_STAT_BLOCKED_UNRECORDED, 1);
		return verdict;
	}
	__u32 zero = 0;
	struct sniffer_filter_settings *fs = bpf_map_lookup_elem(&filter_settings, &zero);
	__u8 rules = port_rules(fs, rec);
	if (!filter_allows(fs, rules)) {
		stat_add(slot, SNIFFER_STAT_FILTERED, 1);
		return verdict;
	}

	rec->ts_mono_ns = bpf_ktime_get_ns();
	rec->ifindex = ifindex;
	rec->wire_len = wire_len;
	rec->hook = hook;
	rec->mode = cfg.mode;
	rec->is_wan_facing = cfg.is_wan_facing;
	if (cfg_flow_kernel) {
		account_flow(rec, slot);
		if (!wants_record(rules)) {
			stat_add(slot, SNIFFER_STAT_SAMPLED_OUT, 1);
			return verdict;
		}
	}
	send_record(ctx, is_xdp, data, data_end, rec, frame_len, slot);
	return verdict;
}

/* The hooks. The user engine (src/engine/user_programs.c) has no xdp_md or
 * __sk_buff: it calls observe() itself, as the XDP hook below does. */
#ifndef SNIFFER_USERSPACE

/* xdp.frags: the program accepts multi-buffer frames (jumbo frames, and
 * large frames replayed from captures through BPF_PROG_TEST_RUN). Headers
 * are parsed in the first buffer; the wire length counts every buffer and
 * bpf_xdp_load_bytes reads the snippet across them. */
SEC("xdp.frags")
int sniffer_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int verdict = observe(ctx, true, data, data_end, ctx->ingress_ifindex,
			      bpf_xdp_get_buff_len(ctx), SNIFFER_HOOK_XDP_INGRESS, 0);
	return verdict == SNIFFER_VERDICT_BLOCKED ? XDP_DROP : XDP_PASS;
}

/* Header bytes the parser wants in the linear area of an skb. */
#define TC_PULL_BYTES 128

/* Makes the first TC_PULL_BYTES of the frame linear when they are not
 * (rare: it may copy a cloned skb's head). A separate function, so that
 * clang cannot reuse ctx field addresses across the pull. */
static __noinline int ensure_headers_linear(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 linear = skb->data_end - skb->data;
	if (linear < TC_PULL_BYTES && len > linear)
		bpf_skb_pull_data(skb, len < TC_PULL_BYTES ? len : TC_PULL_BYTES);
	return 0;
}

/* TC programs return TC_ACT_UNSPEC (-1): "continue", which is also TCX_NEXT,
 * so programs attached after ours still run and the packet passes; a blocked
 * packet gets TC_ACT_SHOT (2). */
#define SNIFFER_TC_CONTINUE (-1)
#define SNIFFER_TC_SHOT 2

/* The skb's own VLAN tag: on receive the kernel moves the frame's outer tag
 * there before TC ingress runs (skb_vlan_untag), and a device with VLAN
 * offload sends it there at TC egress. */
#define SKB_VLAN_PRESENT 0x10000

static __always_inline int observe_skb(struct __sk_buff *skb, __u8 hook)
{
	ensure_headers_linear(skb);
	__u32 skb_vlan = skb->vlan_present ? SKB_VLAN_PRESENT | skb->vlan_tci : 0;
	int verdict = observe(skb, false, (void *)(long)skb->data, (void *)(long)skb->data_end,
			      skb->ifindex, skb->len, hook, skb_vlan);
	return verdict == SNIFFER_VERDICT_BLOCKED ? SNIFFER_TC_SHOT : SNIFFER_TC_CONTINUE;
}

SEC("tc")
int sniffer_tc_in(struct __sk_buff *skb)
{
	return observe_skb(skb, SNIFFER_HOOK_TC_INGRESS);
}

SEC("tc")
int sniffer_tc_eg(struct __sk_buff *skb)
{
	return observe_skb(skb, SNIFFER_HOOK_TC_EGRESS);
}

#endif /* !SNIFFER_USERSPACE */
