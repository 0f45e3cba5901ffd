/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The programs of bpf/sniffer.bpf.c compiled as ordinary C (the user engine,
 * src/engine): the very same source as the kernel's, with the helpers of
 * bpf/userspace/ in place of the kernel's. C, for src/engine/user_programs.c
 * (the programs' side) and the C++ engine (the maps' side).
 */
#ifndef SNIFFER_USER_PROGRAMS_H
#define SNIFFER_USER_PROGRAMS_H

#include <linux/types.h>

#include "sniffer/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One captured frame, the XDP context of the user engine. */
struct sniffer_user_frame {
	const __u8 *data;
	__u32 len;
};

/* An array map's values as the kernel lays them out (each value's size
 * rounded up to 8): the lookup helper indexes them inline, without a call
 * (the counters take several lookups a packet). */
struct sniffer_user_array {
	__u8 *values;
	__u32 stride;
	__u32 entries;
};

/* A map of the programs: its name (as bpftool shows it) and sizes, and the
 * slots where the engine puts its store and, for an array, its values. */
struct sniffer_user_map; /* the engine's store (C++) */
struct sniffer_user_map_slot {
	const char *name;
	struct sniffer_user_map **store;
	const struct sniffer_user_array **array; /* NULL in the definition unless an array */
	__u32 type; /* BPF_MAP_TYPE_* */
	__u32 key_size, value_size; /* 0 for a ring buffer */
};

/* --- The programs' side (src/engine/user_programs.c) --- */

/* Every map the programs use. */
const struct sniffer_user_map_slot *sniffer_user_maps(__u32 *count);
/* The loader's constants (bpf_loader.cpp sets the kernel's from the same LoadOptions). */
void sniffer_user_set_constants(__u32 payload_bytes, __u64 wakeup_bytes, __u8 flow_kernel, __u32 packet_sample,
				const struct sniffer_flow_params *flow_params);
/* The replay globals, as BpfPrograms::set_replay_packet sets the kernel's,
 * and what bpf_ktime_get_ns() returns while the frame runs. */
void sniffer_user_set_replay_packet(__u64 ts_ns, __u32 wire_len, __u64 mono_now_ns);
/* The frame's CLOCK_MONOTONIC time (bpf_ktime_get_ns in the user engine). */
extern __u64 sniffer_user_mono_now_ns;
/* The programs' globals as a fresh load has them (one process may run
 * several engines one after the other), their flow ids from first_flow_id. */
void sniffer_user_start(__u64 first_flow_id);
/* Puts an interface's entry into the programs' iface_cache (abi.h), as the
 * daemon does after updating iface_configs: a frame of that interface then
 * takes its config from there, not from a lookup of the map's store. The
 * engine calls it once a run for each entry it copied (sniffer_user_start
 * empties the cache first). */
void sniffer_user_cache_interface(const struct sniffer_iface_config *cfg);
/* 1 and the entry in *cfg when the cache holds ifindex's entry, else 0. */
int sniffer_user_cached_interface(__u32 ifindex, struct sniffer_iface_config *cfg);
/* The programs' last flow id (kernel flow aggregation). */
__u64 sniffer_user_last_flow_id(void);
/* Runs observe() on the frame as the XDP hook does: headers parsed in its
 * first linear_len bytes, wire length frame->len. Returns the verdict
 * (SNIFFER_VERDICT_*). */
int sniffer_user_observe_xdp(const struct sniffer_user_frame *frame, __u32 linear_len, __u32 ifindex);

/* Where observe() builds a packet record: the events ring's record area
 * (UserRingBuffer::record_area, set by the engine at its start), with room
 * for the record and SNIFFER_MAX_PAYLOAD_BYTES of snippet. The record is
 * reserved there as it is (sniffer_user_ringbuf_reserve_at), not copied. */
extern struct sniffer_record *sniffer_user_record;

/* --- The maps' side (src/engine/user_maps.cpp): the helpers' work --- */

void *sniffer_user_map_lookup(void *map, const void *key);
long sniffer_user_map_update(void *map, const void *key, const void *value, __u64 flags);
void *sniffer_user_ringbuf_reserve(void *map, __u64 size, __u64 flags);
void sniffer_user_ringbuf_submit(void *data, __u64 flags);
/* Reserves the record already at `at`, the ring's record area, as it is
 * (size: the record and its snippet area); NULL when the ring is full. */
void *sniffer_user_ringbuf_reserve_at(void *map, void *at, __u64 size);
long sniffer_user_ringbuf_output(void *map, void *data, __u64 size, __u64 flags);
__u64 sniffer_user_ringbuf_query(void *map, __u64 flags);
__u32 sniffer_user_prandom_u32(void);

#ifdef __cplusplus
}
#endif

#endif /* SNIFFER_USER_PROGRAMS_H */
