/* SPDX-License-Identifier: MIT */
/* The hypercall dispatch (core/hypercall.c): one bounds-checked table from number to handler. */
#ifndef MOAT_HYPERCALL_H
#define MOAT_HYPERCALL_H

struct cpu_regs;

/* Called by the syscall entry (arch/x86_64/syscall.S) with the guest's saved registers; leaves
 * through exit_to_guest(), never returns. */
void hypercall_entry(struct cpu_regs *regs);

#endif
