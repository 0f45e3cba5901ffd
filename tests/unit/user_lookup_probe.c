// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The user engine's bpf_map_lookup_elem (bpf/userspace/bpf/bpf_helpers.h), as
 * the programs compile it, for test_user_maps.cpp: maps declared as the
 * programs declare theirs, with a __u32 key and with a __u16 one.
 */
#include "bpf/bpf_helpers.h"

#include "user_lookup_probe.h"

struct user_lookup_probe_map32 {
	__uint(type, 2);
	__type(key, __u32);
	__type(value, __u64);
};

struct user_lookup_probe_map16 {
	__uint(type, 1);
	__type(key, __u16);
	__type(value, __u64);
};

void *user_lookup_probe32(struct sniffer_user_map *store, const struct sniffer_user_array *array, __u32 key)
{
	struct user_lookup_probe_map32 map = {.user_map = store, .user_array = array};
	return bpf_map_lookup_elem(&map, &key);
}

void *user_lookup_probe16(struct sniffer_user_map *store, const struct sniffer_user_array *array, __u16 key)
{
	struct user_lookup_probe_map16 map = {.user_map = store, .user_array = array};
	return bpf_map_lookup_elem(&map, &key);
}
