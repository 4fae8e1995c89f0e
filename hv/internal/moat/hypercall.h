/* SPDX-License-Identifier: MIT */
/* The hypercall dispatch (core/hypercall.c): one bounds-checked table from number to handler. */
#ifndef MOAT_HYPERCALL_H
#define MOAT_HYPERCALL_H

#include <moat/types.h>

struct cpu_regs;

/* Called by the syscall entry (arch/x86_64/syscall.S) with the guest's saved registers; leaves
 * through exit_to_guest(), never returns. */
void hypercall_entry(struct cpu_regs *regs);

/*
 * The syscall entry's fast path (one CPU, no hypercall log) dispatches from the registers itself
 * and sysrets when nothing is pending. hypercall_fast says whether it may; set once, before the
 * first domain runs, by sched_start, which also points this CPU's syscall entry at it (the
 * architecture's entry is chosen, not a flag tested on every hypercall).
 */
extern bool hypercall_fast;
void hypercall_fast_init(bool one_cpu);

#endif
