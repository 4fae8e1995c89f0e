/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: preemptive round robin over runnable domains, driven by the LAPIC tick. The
 * hypervisor itself is never preempted: it runs with interrupts off except in the idle loop.
 */
#ifndef MOAT_SCHED_H
#define MOAT_SCHED_H

#include <moat/domain.h>

void sched_init(uint32_t slice_us);
/* A new or unpaused runnable domain joins the run queue. */
void sched_add(struct domain *d);
void sched_set_paused(struct domain *d, bool paused);
void sched_remove(struct domain *d);
/* Makes a blocked domain runnable (an event arrived, or its timeout passed). */
void sched_wake(struct domain *d);
/* Called on every tick, after the tick count moved (arch/x86_64/timer.c). */
void sched_tick(void);
/* Picks the next domain, delivers its pending upcall, and enters it; idles when none can run. */
noreturn void exit_to_guest(void);
static inline struct domain *current_domain(void) { return this_cpu()->current; }

long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_timer_op(uint64_t deadline_ns, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_callbacks(uint64_t entry, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_iret(uint64_t frame, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
