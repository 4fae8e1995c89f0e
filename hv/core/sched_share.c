// SPDX-License-Identifier: MIT
// Proportional share: weights and caps (moat/sched_share.h, docs/resource-control.md).
#include <moat/domain.h>
#include <moat/lib.h>
#include <moat/sched.h>
#include <moat/sched_partition.h>
#include <moat/sched_share.h>
#include <moat/xsm.h>
#include <public/xsm/acm.h>

/*
 * The live domains with a cap: the tick walks these only, not every domain, so its cost grows
 * with the capped domains and not with all (none: the tick does nothing here).
 */
static struct domain *capped;

static void capped_link(struct domain *d, bool in)
{
    struct share *s = &d->share;
    if (in == s->listed)
        return;
    s->listed = in;
    if (in) {
        s->capped_prev = NULL;
        s->capped_next = capped;
        if (capped)
            capped->share.capped_prev = d;
        capped = d;
        return;
    }
    if (s->capped_prev)
        s->capped_prev->share.capped_next = s->capped_next;
    else
        capped = s->capped_next;
    if (s->capped_next)
        s->capped_next->share.capped_prev = s->capped_prev;
    s->capped_next = s->capped_prev = NULL;
}

int share_set(struct domain *d, uint32_t weight, uint32_t cap)
{
    if (weight == 0)
        weight = SHARE_WEIGHT_DEFAULT;
    if (weight > SHARE_WEIGHT_MAX || cap > SHARE_CAP_MAX)
        return -XEN_EINVAL;
    struct share *s = &d->share;
    capped_link(d, cap != 0);
    s->weight = weight;
    s->cap = cap;
    s->period = UINT64_MAX; /* a new budget at its next tick, and no debt */
    s->debt_ns = 0;
    s->switch_cpus = 0;
    if (s->parked) {
        s->parked = false;
        sched_plain_update(d);
        for (unsigned i = 0; i < d->nr_vcpus; i++)
            sched_add(&d->vcpus[i]);
    }
    sched_plain_update(d); /* the weight */
    return 0;
}

int share_init(struct domain *d, uint32_t weight, uint32_t cap)
{
    memset(&d->share, 0, sizeof(d->share));
    sched_plain_update(d); /* (weight 0: not plain, until share_set's) */
    /* What the creator left unset comes from the domain's label in the policy (its SCHED
     * section), so one rule covers every domain of a customer; the policy compiler and the
     * parser keep those defaults in range. */
    if (!weight)
        weight = xsm_sched_default(d->ssidref, ACM_SCHED_WEIGHT);
    if (!cap)
        cap = xsm_sched_default(d->ssidref, ACM_SCHED_CAP);
    return share_set(d, weight, cap);
}

void share_exit(struct domain *d)
{
    capped_link(d, false);
    d->share.cap = 0;
    d->share.parked = false;
    sched_plain_update(d);
}

uint64_t share_slice(struct domain *d, uint64_t slice_ticks)
{
    struct share *s = &d->share;
    if (s->weight == SHARE_WEIGHT_DEFAULT)
        return slice_ticks;
    uint64_t scaled = slice_ticks * s->weight + s->slice_rem; /* in 1/256 ticks */
    uint64_t ticks = scaled / SHARE_WEIGHT_DEFAULT;
    if (ticks == 0)
        ticks = 1; /* at least a tick: the rest is owed back below */
    s->slice_rem = scaled > ticks * SHARE_WEIGHT_DEFAULT ? scaled - ticks * SHARE_WEIGHT_DEFAULT : 0;
    return ticks;
}

/* Does d have a vCPU that is up and homed on cpu (queued there, running there or parked)? */
static bool has_vcpu_on(const struct domain *d, unsigned cpu)
{
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        if (d->vcpus[i].state != VCPU_DOWN && d->vcpus[i].cpu == cpu)
            return true;
    return false;
}

/*
 * A new period for a capped domain: its budget, less what it overran the last one by. An
 * overrun longer than a budget (a tick that came late: without -icount the host may stop the
 * CPU while the domain runs; or a tick of each of several CPUs that ran its vCPUs) is a debt
 * paid off the next periods' budgets, so the cap holds over any window longer than the debt.
 * A parked domain's vCPUs go to the head of their queues, and each of their CPUs switches to
 * them at its next tick (switch_cpus; this one at this tick: true), so the domain gets its
 * budget inside the period whatever the others' slices.
 */
static bool refill(struct domain *d, unsigned cpu, uint64_t period)
{
    struct share *s = &d->share;
    uint64_t budget = SHARE_PERIOD_NS / 100 * s->cap;
    uint64_t used = sched_cycles_to_ns(d->cpu_time_cycles - s->period_cpu_cycles);
    /* Periods in which no CPU ticked (all idle) each allowed a budget of their own. */
    uint64_t allowed = s->budget_ns + (s->period < period ? (period - s->period - 1) * budget : 0);
    uint64_t over = s->period != UINT64_MAX && used > allowed ? used - allowed : 0;
    over += s->debt_ns;
    s->budget_ns = budget > over ? budget - over : 0;
    s->debt_ns = over > budget ? over - budget : 0;
    s->period = period;
    s->period_cpu_cycles = d->cpu_time_cycles;
    if (!s->parked)
        return false;
    if (!s->budget_ns)
        return false; /* still in debt: it stays parked (queued, it would run a tick anyway) */
    s->parked = false;
    sched_plain_update(d);
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        struct vcpu *v = &d->vcpus[i];
        sched_add_first(v); /* queues it if it is runnable: not down, blocked or paused */
        if (v->on_rq && v->cpu < MOAT_MAX_CPUS)
            s->switch_cpus |= 1ULL << v->cpu;
    }
    bool here = s->switch_cpus >> cpu & 1;
    s->switch_cpus &= ~(1ULL << cpu);
    return here;
}

/* One capped domain's share of this CPU's tick (the period index is now's): refills it at a new
 * period, parks it once its budget is used; true when this CPU must switch to it. */
static inline __attribute__((always_inline)) bool cap_tick(struct domain *d, unsigned cpu, uint64_t period,
                                                           uint64_t *deadline_ns)
{
    struct share *s = &d->share;
    bool out = false;
    if (d->state != DOM_RUNNABLE)
        return false;
    /* Only forwards: a CPU whose clock reads a hair behind the one that refilled this
     * period must not start it again (UINT64_MAX: no period yet). */
    if (s->period == UINT64_MAX || s->period < period)
        out = refill(d, cpu, period);
    if (s->switch_cpus >> cpu & 1) { /* refilled by another CPU: its vCPU here goes first */
        s->switch_cpus &= ~(1ULL << cpu);
        out = true;
    }
    if (!s->parked && sched_cycles_to_ns(d->cpu_time_cycles - s->period_cpu_cycles) >= s->budget_ns) {
        /* Its vCPUs queued on any CPU leave their queues: a CPU takes the head of its
         * queue without asking whether it may run. */
        s->parked = true;
        sched_plain_update(d);
        sched_park(d);
    }
    /* An idle CPU wakes for the refill of a domain it will run. */
    if (s->parked && (period + 1) * SHARE_PERIOD_NS < *deadline_ns && has_vcpu_on(d, cpu))
        *deadline_ns = (period + 1) * SHARE_PERIOD_NS;
    return out;
}

/*
 * Under partitions a domain's cap is kept in its own partition's time only: whether it spent
 * its budget (parked or not), and whether it is alive at all, must not change the cost of
 * another partition's ticks (a timing channel: tests/covert/ni_partition_cap.toml; a-web's cap
 * slows it, so its poweroff, which takes it off the capped list, comes at a time that depends on
 * its secret). So this walks every slot of the domain table, not the capped list, and a slot of
 * another partition, free or not, capped or not, costs the same one test. The running
 * partition's guard tick counts as its own (the guard hides that tick's work): a domain's refill
 * waits for its partition's next tick, at the latest that guard tick, and an overrun past the
 * boundary is charged then.
 */
static __attribute__((__noinline__)) bool share_tick_partitioned(unsigned cpu, const struct vcpu *current, uint64_t period,
                                   uint64_t *deadline_ns)
{
    struct domain *table = domain_table(0);
    bool out = false;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++)
        if (!partition_elsewhere(&table[i]) && table[i].share.listed)
            out |= cap_tick(&table[i], cpu, period, deadline_ns);
    return out || (current && current->domain->share.parked);
}

/*
 * The cap is the domain's, whatever its number of vCPUs and wherever they run: one budget per
 * period, which every CPU charges with the time it gave any of them (cpu_time_cycles sums them all)
 * and checks at each of its ticks; the first CPU to tick in a new period refills it. So a
 * domain of two vCPUs on two CPUs capped at 20 % gets 20 % of one CPU in all, not 20 % on each,
 * and its cap holds while only some of its CPUs tick (the others idle). Once parked, every CPU
 * gives way at its next tick: the time a vCPU on another CPU runs until then is overrun, paid
 * off the next budget. Everything here runs under the hypervisor lock (sched.c), so no other
 * CPU reads or writes a domain's share meanwhile.
 */
static __attribute__((__noinline__)) bool share_tick_listed(unsigned cpu, const struct vcpu *current, uint64_t period,
                                                             uint64_t *deadline_ns)
{
    bool out = false;
    for (struct domain *d = capped; d; d = d->share.capped_next)
        out |= cap_tick(d, cpu, period, deadline_ns);
    return out || (current && current->domain->share.parked);
}

/* Both walks out of line: with no cap and no partitions the tick's call is two tests. */
bool share_tick(unsigned cpu, const struct vcpu *current, uint64_t now, uint64_t *deadline_ns)
{
    if (partitioned())
        return share_tick_partitioned(cpu, current, now / SHARE_PERIOD_NS, deadline_ns);
    if (!capped)
        return false;
    return share_tick_listed(cpu, current, now / SHARE_PERIOD_NS, deadline_ns);
}
