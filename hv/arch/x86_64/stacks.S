/* SPDX-License-Identifier: MIT */
/*
 * Hypervisor stacks. Each stack sits above a guard page that paging.c leaves unmapped, so an
 * overflow faults at once instead of corrupting what lies below. The exception stacks (#DF, NMI,
 * #MC) are separate so that those handlers run even when the faulting stack is broken.
 */
#include <moat/config.h>

#define STACK(name)          \
    .skip 4096;              \
    .skip KSTACK_SIZE;       \
    .globl name##_top;       \
name##_top:

    .section .bss.stacks, "aw", @nobits
    .balign 4096
    .globl kstacks_start
kstacks_start:
    STACK(kstack_boot)
    STACK(kstack_df)
    STACK(kstack_nmi)
    STACK(kstack_mc)
    .globl kstacks_end
kstacks_end:
