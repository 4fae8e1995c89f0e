/* SPDX-License-Identifier: MIT */
/*
 * Proportional share (docs/resource-control.md): every domain has a weight and may have a cap.
 *
 *   weight  1 to 65535 (default 256): a domain's time slice is the scheduler's slice times
 *           weight / 256, so domains that keep their CPU busy share it in proportion to their
 *           weights (round robin over slices of those lengths); the fraction a slice loses to
 *           whole ticks is carried into the next one, so the proportion holds over time.
 *   cap     0 (none) or 1 to 100: percent of one CPU it may use in each 10 ms period, even
 *           when nothing else wants the CPU, whatever its number of vCPUs and CPUs: one budget
 *           per period for the domain, charged from every CPU that runs it. Once the budget is
 *           used the domain is parked (not runnable) until the next period begins; then it goes
 *           first (its CPUs switch to it at their next tick), and time it overran by (at most a
 *           tick of each CPU that ran it) comes off its budget.
 *
 * sched.c calls the three hooks below and nothing else of this file. The state is per domain:
 * weight and cap apply to the domain as a whole, whatever its number of vCPUs.
 */
#ifndef MOAT_SCHED_SHARE_H
#define MOAT_SCHED_SHARE_H

#include <moat/types.h>

struct domain;
struct vcpu;

#define SHARE_WEIGHT_DEFAULT 256u
#define SHARE_WEIGHT_MAX 65535u
#define SHARE_CAP_MAX 100u
#define SHARE_PERIOD_NS 10000000ULL /* 10 ms: over any window a cap errs by one budget at most */

struct share {
    uint32_t weight;
    uint32_t cap;            /* percent of one CPU, 0: none */
    uint64_t slice_rem;      /* carried fraction of a tick, in 1/256 ticks */
    uint64_t period;         /* index of its current cap period */
    uint64_t period_cpu_cycles; /* its cpu_time_cycles when that period began */
    uint64_t budget_ns;      /* what it may use in that period */
    uint64_t debt_ns;        /* overrun more than a budget can repay: off the next periods' */
    uint64_t switch_cpus;    /* CPUs (bit n: CPU n) to switch to it at their next tick: refilled */
    bool parked;             /* its budget is used: not runnable until the next period */
    bool listed;             /* on the list of capped domains (sched_share.c) */
    struct domain *capped_next, *capped_prev;
};

/* A new domain's weight and cap (0: the default weight; no cap). -XEN_EINVAL if out of range. */
int share_init(struct domain *d, uint32_t weight, uint32_t cap);
/* A dying domain's cap no longer counts (sched_remove). */
void share_exit(struct domain *d);
/* Changes them (domctl); a cap set or lifted takes effect at once. -XEN_EINVAL if out of range. */
int share_set(struct domain *d, uint32_t weight, uint32_t cap);

/* Hook (sched.c runnable()): the vCPU's domain's share.parked, read directly (a field, not a call). */
/* Hook (sched.c switch_to()): the ticks of d's next slice, from the scheduler's slice. */
uint64_t share_slice(struct domain *d, uint64_t slice_ticks);
/* Hook (sched.c sched_tick()): the caps of all capped domains, from any CPU: parks a domain
 * whose budget is used, unparks the parked at a new period, and answers true when this CPU must
 * switch (its current vCPU's domain is parked, or a refilled domain's vCPU waits here); lowers
 * *deadline_ns to the next period's start while a parked domain has a vCPU on this CPU. Under
 * partitions only the running partition's capped domains (the others wait for their own time, at
 * a cost that does not depend on them: no timing channel between labels). */
bool share_tick(unsigned cpu, const struct vcpu *current, uint64_t now_ns, uint64_t *deadline_ns);

#endif
