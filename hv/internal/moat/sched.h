/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: preemptive round robin over runnable domains, driven by the LAPIC tick. The
 * hypervisor itself is never preempted: it runs with interrupts off except in the idle loop.
 */
#ifndef MOAT_SCHED_H
#define MOAT_SCHED_H

#include <moat/domain.h>

void sched_init(uint32_t slice_us);
/* Boot CPU, the domains built: takes the hypervisor lock and lets every CPU schedule. */
void sched_start(void);
bool sched_started(void);
/* A new domain's CPU: `cpu` if pinned (and online), else the CPU with the fewest domains. */
void sched_place(struct domain *d, bool pinned, unsigned cpu);
/* A new or unpaused runnable domain joins its CPU's run queue (an idle CPU's, if its own is busy). */
void sched_add(struct domain *d);
/* The same, at the head of the queue: it runs when the current domain gives way (sched_share.c). */
void sched_add_first(struct domain *d);
/* Pausing a domain that runs on another CPU makes that CPU stop running it at once (an IPI). */
void sched_set_paused(struct domain *d, bool paused);
/* A dying domain leaves the scheduler; when this returns no CPU runs it or holds its page tables
 * or extended state. */
void sched_remove(struct domain *d);
/* Makes a blocked domain runnable (an event arrived, or its timeout passed). */
void sched_wake(struct domain *d);
/* An upcall is pending for d: wakes it if blocked, or interrupts the CPU it runs on (an IPI). */
void sched_notify(struct domain *d);
/* Picks the next domain, delivers its pending upcall, and enters it; idles when none can run. */
noreturn void exit_to_guest(void);
static inline struct domain *current_domain(void) { return this_cpu()->current; }

long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_timer_op(uint64_t deadline_ns, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_callbacks(uint64_t entry, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_iret(uint64_t frame, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
