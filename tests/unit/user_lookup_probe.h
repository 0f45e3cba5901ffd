/* tests/unit/user_lookup_probe.c: the programs' lookup helper, called from C++. */
#ifndef USER_LOOKUP_PROBE_H
#define USER_LOOKUP_PROBE_H

#include "sniffer/user_programs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* bpf_map_lookup_elem on a map of the programs' form with this store and
 * array view (NULL: none), keyed by a __u32, or by a __u16. */
void *user_lookup_probe32(struct sniffer_user_map *store, const struct sniffer_user_array *array, __u32 key);
void *user_lookup_probe16(struct sniffer_user_map *store, const struct sniffer_user_array *array, __u16 key);

#ifdef __cplusplus
}
#endif

#endif
