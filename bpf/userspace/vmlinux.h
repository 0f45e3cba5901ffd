/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The user engine's stand-in for the generated vmlinux.h: the programs
 * (bpf/sniffer.bpf.c) compiled as ordinary C for the offline path
 * (src/engine). The programs only use the kernel's UAPI types (packet
 * headers, the BPF map and program constants), and the UAPI headers define
 * them with the same layout, so they come from there.
 */
#ifndef SNIFFER_USERSPACE_VMLINUX_H
#define SNIFFER_USERSPACE_VMLINUX_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#endif /* SNIFFER_USERSPACE_VMLINUX_H */
