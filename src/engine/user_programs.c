// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The programs of bpf/sniffer.bpf.c, compiled as ordinary C: this file
 * includes the very source the kernel runs, with bpf/userspace/ ahead on the
 * include path (vmlinux.h from the UAPI headers, the helpers in userspace),
 * and adds what the engine needs to drive it: the list of its maps, its
 * constants and replay globals, and one call of observe() per frame.
 */
#include <stddef.h>

#include "sniffer.bpf.c"
#include "sniffer/user_programs.h"

/* Every map of the programs, once: those with a key and a value, and the
 * ring buffer (neither). The engine checks at start that the kernel's object
 * has no map missing here. */
#define KEYED_MAPS(X)                                                                                      \
	X(iface_configs) X(stats) X(filter_settings) X(port_filters) X(block_settings) X(block_src_v4)    \
	X(block_src_v6) X(block_dst_v4) X(block_dst_v6) X(allow_v4) X(allow_v6) X(flows) X(flow_blank)   \
	X(flow_out) X(local_addrs) X(kernel_drops) X(capture_slots) X(capture_counts) X(capture_buf)
/* captures: offline, capture_active stays 0 (the capture maps are kept for
 * the check that every map has a store), so nothing reaches that ring. */
#define RINGS(X) X(events) X(captures)

/* The store's pointer must be the struct's first member (see bpf/userspace/bpf/bpf_helpers.h). */
#define STORE_FIRST(m)                                                                    \
	_Static_assert(offsetof(typeof(m), user_map) == offsetof(struct sniffer_user_map_head, user_map) && \
			       offsetof(typeof(m), user_array) == offsetof(struct sniffer_user_map_head, user_array), \
		       #m ": user_map and user_array are not first");
KEYED_MAPS(STORE_FIRST)
RINGS(STORE_FIRST)

#define USER_MAP(m) {#m, &m.user_map, &m.user_array, sizeof(*m.type) / sizeof(int), sizeof(*m.key), sizeof(*m.value)},
#define USER_RING(m) {#m, &m.user_map, &m.user_array, sizeof(*m.type) / sizeof(int), 0, 0},
static const struct sniffer_user_map_slot user_maps[] = {KEYED_MAPS(USER_MAP) RINGS(USER_RING)};

const struct sniffer_user_map_slot *sniffer_user_maps(__u32 *count)
{
	*count = sizeof(user_maps) / sizeof(user_maps[0]);
	return user_maps;
}

void sniffer_user_set_constants(__u32 payload_bytes, __u64 wakeup_bytes, __u8 flow_kernel, __u32 packet_sample,
				const struct sniffer_flow_params *flow_params)
{
	cfg_payload_bytes = payload_bytes;
	cfg_wakeup_bytes = wakeup_bytes;
	cfg_flow_kernel = flow_kernel;
	cfg_packet_sample = packet_sample;
	memcpy((void *)&cfg_flow_params, flow_params, sizeof(*flow_params));
}

__u64 sniffer_user_mono_now_ns;
struct sniffer_record *sniffer_user_record;

void sniffer_user_set_replay_packet(__u64 ts_ns, __u32 wire_len, __u64 mono_now_ns)
{
	sniffer_user_mono_now_ns = mono_now_ns;
	replay_ts_ns = ts_ns;
	if (ts_ns > replay_clock_ns)
		replay_clock_ns = ts_ns;
	replay_wire_len = wire_len;
	replay_active = 1;
}

void sniffer_user_start(__u64 first_flow_id)
{
	memset(iface_cache, 0, sizeof(iface_cache));
	replay_ts_ns = 0;
	replay_clock_ns = 0;
	replay_wire_len = 0;
	replay_active = 0;
	last_flow_id = first_flow_id - 1;
}

void sniffer_user_cache_interface(const struct sniffer_iface_config *cfg)
{
	__u64 word;
	memcpy(&word, cfg, sizeof(word));
	iface_cache[cfg->ifindex % SNIFFER_IFACE_CACHE_SLOTS] = word;
}

int sniffer_user_cached_interface(__u32 ifindex, struct sniffer_iface_config *cfg)
{
	memcpy(cfg, &iface_cache[ifindex % SNIFFER_IFACE_CACHE_SLOTS], sizeof(*cfg));
	return cfg->ifindex == ifindex && ifindex;
}

__u64 sniffer_user_last_flow_id(void)
{
	return last_flow_id;
}

int sniffer_user_observe_xdp(const struct sniffer_user_frame *frame, __u32 linear_len, __u32 ifindex)
{
	void *data = (void *)frame->data;
	return observe((void *)frame, true, data, (__u8 *)data + linear_len, ifindex, frame->len,
		       SNIFFER_HOOK_XDP_INGRESS, 0);
}
