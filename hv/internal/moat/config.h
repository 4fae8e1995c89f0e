/* SPDX-License-Identifier: MIT */
/* Build-wide constants of the hypervisor. Shared by C and assembly. */
#ifndef MOAT_CONFIG_H
#define MOAT_CONFIG_H

#define MOAT_VERSION "0.1.0"

/* The hypervisor image runs in the top 2 GiB (-mcmodel=kernel); physical = virtual - KERNEL_VBASE. */
#define KERNEL_VBASE 0xffffffff80000000
/* All of RAM is mapped here for the hypervisor's own use (supervisor-only, never executable). */
#define DIRECTMAP_BASE 0xffff800000000000
/* Device pages (the local APIC) get fixed, uncached mappings here. */
#define FIXMAP_BASE 0xffffffffffe00000

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096
#define KSTACK_SIZE 16384

/* CPUs the hypervisor can bring up (more in the MADT are reported and left off). */
#define MOAT_MAX_CPUS 64

/* Timer interrupt rate of the scheduler tick. */
#define TICK_HZ 1000

/* The most physical memory the frame table covers (bounded so its size is known up front). */
#define MAX_PHYS_MEMORY (64UL << 30)

#define MAX_MODULES 32
#define CMDLINE_MAX 512

#endif
