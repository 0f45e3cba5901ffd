// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark baseline (bench/micro_bpf): the same parse_packet() as
 * sniffer.bpf.c on a stack record, then XDP_PASS. No maps, no ring buffer.
 * The difference to sniffer_xdp is the cost of counters, filter and record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp.frags")
int bench_bare(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sniffer_record rec = {};
	parse_packet(data, data_end, &rec);
	/* Keep the record (and so the parse) alive: the compiler must assume
	 * the empty asm reads it. Emits no instruction. */
	asm volatile("" : : "r"(&rec) : "memory");
	return XDP_PASS;
}
