/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The user engine's stand-in for libbpf's bpf_helpers.h: what the programs
 * (bpf/sniffer.bpf.c, compiled as ordinary C with SNIFFER_USERSPACE for the
 * offline path, src/engine) need of the kernel, in userspace.
 *
 * Maps: a map definition keeps libbpf's form (its members are pointers whose
 * types carry the map's type, size, key and value) and gains one first
 * member, user_map: the store that src/engine/user_maps.cpp keeps for it. A
 * helper given a map (often as void *) reaches the store through it.
 * Helpers: map access and the ring go to that store; the rest is here.
 */
#ifndef SNIFFER_USERSPACE_BPF_HELPERS_H
#define SNIFFER_USERSPACE_BPF_HELPERS_H

#include <errno.h>
#include <string.h>
#include <linux/types.h>
#include "sniffer/user_programs.h"

#define SEC(name)
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __noinline __attribute__((noinline))

/* Each map's first line is __uint(type, ...): that one also declares the
 * store's pointer, first, so that *(struct sniffer_user_map **)map finds it,
 * and then an array's values (struct sniffer_user_map_head). */
#define __uint(name, val) __sniffer_uint_##name(val)
#define __sniffer_uint_type(val) \
	struct sniffer_user_map *user_map; \
	const struct sniffer_user_array *user_array; \
	int (*type)[val]
#define __sniffer_uint_max_entries(val) int (*max_entries)[val]
#define __sniffer_uint_map_flags(val) int (*map_flags)[val]
#define __type(name, val) typeof(val) *name

/* Every map definition's first members. */
struct sniffer_user_map_head {
	struct sniffer_user_map *user_map;
	const struct sniffer_user_array *user_array;
};

/* An array's element inline (NULL past its end, as the kernel's); any other
 * map through its store. key_size: the key's type's (an array's is a __u32;
 * a constant here, so the inline path is not even compiled for other keys). */
static __always_inline void *sniffer_user_lookup(void *map, const void *key, __u64 key_size)
{
	const struct sniffer_user_array *a = ((const struct sniffer_user_map_head *)map)->user_array;
	if (key_size == sizeof(__u32) && a) {
		__u32 index;
		memcpy(&index, key, sizeof(index));
		return index < a->entries ? a->values + (__u64)index * a->stride : NULL;
	}
	return sniffer_user_map_lookup(map, key);
}

#define bpf_map_lookup_elem(map, key) sniffer_user_lookup((void *)(map), key, sizeof(*(key)))
#define bpf_map_update_elem(map, key, value, flags) sniffer_user_map_update(map, key, value, flags)
#define bpf_ringbuf_reserve(map, size, flags) sniffer_user_ringbuf_reserve(map, size, flags)
#define bpf_ringbuf_submit(data, flags) sniffer_user_ringbuf_submit(data, flags)
#define bpf_ringbuf_output(map, data, size, flags) sniffer_user_ringbuf_output(map, data, size, flags)
#define bpf_ringbuf_query(map, flags) sniffer_user_ringbuf_query(map, flags)

/* The frame's CLOCK_MONOTONIC time, read once by the engine before it runs
 * the frame (a clock read per call was a tenth of a run). */
static inline __u64 bpf_ktime_get_ns(void) { return sniffer_user_mono_now_ns; }

/* observe()'s packet record, zeroed as the kernel's `= {}` on the stack is,
 * in the ring's record area (sniffer_user_record). Seven 16-byte stores: GCC
 * made memset's 112 bytes a `rep stosq`, slow to start (a tenth of the
 * parser's samples sat right after it). */
typedef __u64 sniffer_user_zero16 __attribute__((vector_size(16), aligned(8), may_alias));
_Static_assert(sizeof(struct sniffer_record) == 7 * sizeof(sniffer_user_zero16), "the stores below cover the record");
static inline struct sniffer_record *sniffer_user_new_record(void)
{
	struct sniffer_record *rec = sniffer_user_record;
	sniffer_user_zero16 *v = (sniffer_user_zero16 *)rec;
	const sniffer_user_zero16 zero = {0, 0};
	v[0] = zero, v[1] = zero, v[2] = zero, v[3] = zero, v[4] = zero, v[5] = zero, v[6] = zero;
	return rec;
}

/* One thread runs the programs: the entry's lock has nobody to exclude. */
static inline void bpf_spin_lock(struct bpf_spin_lock *lock) { (void)lock; }
static inline void bpf_spin_unlock(struct bpf_spin_lock *lock) { (void)lock; }

static inline __u32 bpf_get_prandom_u32(void) { return sniffer_user_prandom_u32(); }

/* ctx is the engine's struct sniffer_user_frame: the whole captured frame. */
static inline long bpf_xdp_load_bytes(void *ctx, __u32 offset, void *buf, __u32 len)
{
	const struct sniffer_user_frame *f = ctx;
	if (offset > f->len || len > f->len - offset)
		return -EFAULT;
	memcpy(buf, f->data + offset, len);
	return 0;
}

/* The user engine runs the XDP path only (observe() with is_xdp true): the
 * skb helpers are never called there. */
static inline long bpf_skb_load_bytes(const void *ctx, __u32 offset, void *buf, __u32 len)
{
	(void)ctx, (void)offset, (void)buf, (void)len;
	return -EOPNOTSUPP;
}

#endif /* SNIFFER_USERSPACE_BPF_HELPERS_H */
