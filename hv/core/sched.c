// SPDX-License-Identifier: MIT
// Scheduling, blocking, timers and when to deliver an upcall (the frame itself: arch/x86_64/upcall.c).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/event_channel.h>
#include <moat/hvlock.h>
#include <moat/hypercall.h>
#include <moat/lib.h>
#include <moat/meter.h>
#include <moat/sched.h>
#include <moat/sched_partition.h>
#include <moat/sched_share.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/timer.h>
#include <moat/vcpu_queue.h>
#include <public/sched.h>

static uint64_t slice_ticks = 10 * TICK_HZ / 1000; /* 10 ms unless the manifest says otherwise */

/*
 * The scheduler runs vCPUs (a domain has 1 to MOAT_MAX_VCPUS; docs/hypervisor.md, "vCPUs").
 * One run queue per CPU: every runnable vCPU of an unpaused domain whose CPU it is, except the one
 * running there, in the order they will run (a FIFO: round robin). Picking, requeueing and waking
 * are O(1), whatever the number of vCPUs. A vCPU is current only on its own CPU (v->cpu); it
 * changes CPU only while it is not current anywhere: placed when it comes up on the CPU with the
 * fewest vCPUs, moved to an idle CPU when it becomes runnable on a busy one, or taken by a CPU
 * whose queue ran dry (unless pinned: the scenario's `cpu = k` pins vCPU 0).
 *
 * A woken vCPU goes to the head of its queue (it runs as soon as the current one gives way) only
 * while it has used less than its fair share of its CPU in the current window (the window
 * divided by the vCPUs of that CPU): vCPUs that mostly wait for events get low latency, while
 * vCPUs that keep waking each other cannot starve a third, since once over their share they
 * queue like everyone else.
 *
 * The tick does not look at every vCPU either, so its cost does not grow with their number (the
 * sched_tick_N figures): the fairness window restarts by a new start time on the queue (a vCPU
 * whose own start differs has used nothing of the current window, see window_enter), and the
 * timers are a per-CPU list of the vCPUs with a timer or poll timeout armed, walked only when the
 * earliest of them is due.
 *
 * Everything here runs under the hypervisor lock (moat/hvlock.h).
 */
#define FAIR_WINDOW_MS 100ULL
#define FAIR_WINDOW_NS (FAIR_WINDOW_MS * 1000000) /* 100 ms */
struct runqueue {
    struct vcpu *head, *tail;
    unsigned queued;   /* vCPUs on the queue */
    unsigned movable;  /* of which not pinned: what an idle CPU may take */
    unsigned homed;    /* live domains whose CPU this is: the fair-share divisor */
    uint64_t window_start_ns;
    struct vcpu *timers;  /* its vCPUs with a timer or poll timeout armed (or just disarmed) */
    uint64_t timers_ns;   /* none of those is due before this */
    uint64_t deadline_ns; /* nothing of this CPU (timers, stats lines, cap periods) is due before this */
};
static struct runqueue rqs[MOAT_MAX_CPUS];
static bool started; /* the boot CPU has built the domains: every CPU schedules */
static bool wake_one_cpu; /* started, with one CPU and no partitions: sched_wake's short way */

/*
 * A queue's counters (queued, movable) serve only the other CPUs: one that idles or looks for
 * work to take (idle, idle_cpu, steal). With one CPU online nobody reads them, so they are not
 * kept, which spares the one-CPU switch their updates. Decided once, in sched_init, before the
 * first domain is queued, from the CPUs online then (none come later).
 */
static bool rq_counted;

/*
 * One CPU runs guests, there are no partitions, and the architecture can switch plainly
 * (arch_switch_plain_on): set once by sched_start. Its queue is then rqs[0], the queue's counters
 * are not kept, no lock is taken, and the way out tries the plain switch (exit_to_guest_resched).
 */
static bool plain_switch_on;

/*
 * plain_switch_on, and no CPU has a device's I/O ports open (device_ports_open_cpus): the one
 * global condition the plain switch tests, kept as the boot CPU's switch_general (0 when it
 * holds), beside its work word so that one compare tests both (exit_to_guest_resched).
 * Recomputed by sched_plain_ports wherever either changes. Every other CPU's is 1 from its start
 * (smp_boot): plain_switch_on means one CPU, the boot CPU.
 */
void sched_plain_ports(void) { percpus[0].switch_general = !(plain_switch_on && !device_ports_open_cpus); }

/*
 * The per-domain half of the plain switch's tests: d's vCPUs may be switched in (and out, after a
 * yield) plainly while d holds no device (device_switch_to has nothing to do), has the default
 * weight (slice_of is slice_ticks), and is neither paused nor parked (runnable(v) is v's state
 * alone). Every writer of one of these calls this after its write, so the flag is never stale;
 * a domain's flag is false (the general path) until its first call.
 */
void sched_plain_update(struct domain *d)
{
    d->switch_plain = !d->devices && d->share.weight == SHARE_WEIGHT_DEFAULT && !d->paused && !d->share.parked;
}

static inline __attribute__((always_inline)) void rq_count_in(struct runqueue *rq, const struct vcpu *v)
{
    if (rq_counted) {
        rq->queued++;
        rq->movable += !v->pinned;
    }
}

static inline __attribute__((always_inline)) void rq_count_out(struct runqueue *rq, const struct vcpu *v)
{
    if (rq_counted) {
        rq->queued--;
        rq->movable -= !v->pinned;
    }
}

/* v, not queued, to the head of rq (v's CPU's, without partitions); counted: keep the counters. */
static inline __attribute__((always_inline)) void rq_link_head(struct runqueue *rq, struct vcpu *v, bool counted)
{
    if (counted)
        rq_count_in(rq, v);
    vcpu_queue_link_head(&rq->head, &rq->tail, v);
}

/* To the head of v's queue: its CPU's, or under partitions its partition's (a cap's refill). */
static inline __attribute__((always_inline)) void rq_push_head(struct vcpu *v)
{
    if (partitioned())
        partition_enqueue_first(v);
    else if (!v->on_rq)
        rq_link_head(&rqs[v->cpu], v, true);
}

/* v, not queued, to the tail of rq (v's CPU's, without partitions); counted: keep the counters. */
static inline __attribute__((always_inline)) void rq_link_tail(struct runqueue *rq, struct vcpu *v, bool counted)
{
    if (counted)
        rq_count_in(rq, v);
    vcpu_queue_link_tail(&rq->head, &rq->tail, v);
}

/* To the tail of v's CPU's queue (without partitions). */
static inline __attribute__((always_inline)) void rq_push_tail(struct vcpu *v)
{
    if (!v->on_rq)
        rq_link_tail(&rqs[v->cpu], v, true);
}

static inline __attribute__((always_inline)) void rq_push(struct vcpu *v)
{
    if (partitioned())
        partition_enqueue(v);
    else
        rq_push_tail(v);
}

/* v, queued on rq (v's CPU's, without partitions), leaves it; counted: keep the counters. */
static inline __attribute__((always_inline)) void rq_unlink(struct runqueue *rq, struct vcpu *v, bool counted)
{
    if (v->rq_prev)
        v->rq_prev->rq_next = v->rq_next;
    else
        rq->head = v->rq_next;
    if (v->rq_next)
        v->rq_next->rq_prev = v->rq_prev;
    else
        rq->tail = v->rq_prev;
    v->on_rq = false;
    if (counted)
        rq_count_out(rq, v);
    v->rq_next = v->rq_prev = NULL;
}

static inline __attribute__((always_inline)) void rq_remove(struct vcpu *v)
{
    if (partitioned()) {
        partition_dequeue(v);
        return;
    }
    if (v->on_rq)
        rq_unlink(&rqs[v->cpu], v, true);
}

/*
 * CPU time is counted in the cycle counter's ticks (account, at every switch: a subtraction and
 * two additions) and converted to nanoseconds only where it is read (sched_cycles_to_ns: the
 * caps, the statistics, getinfo), as a multiply and a shift: ns = cycles * cycle_ns_mult >> 32,
 * the factor taken once from the counter's rate (sched_init). 0 while the rate is unknown: every
 * time reads as 0 then, as before.
 */
static uint64_t cycle_ns_mult;
/* FAIR_WINDOW_NS in cycles (under_fair_share's bound): UINT64_MAX while the rate is unknown, so
 * that every vCPU is under its share then, as when no time was accounted. */
static uint64_t fair_window_cycles = UINT64_MAX;

uint64_t sched_cycles_to_ns(uint64_t cycles) { return (uint64_t)(((unsigned __int128)cycles * cycle_ns_mult) >> 32); }

void sched_init(uint32_t slice_us)
{
    if (slice_us)
        slice_ticks = MAX(1, (uint64_t)slice_us * TICK_HZ / 1000000);
    rq_counted = smp_cpus_online() > 1;
    uint64_t khz = tsc_khz();
    cycle_ns_mult = khz ? (1000000ULL << 32) / khz : 0;
    fair_window_cycles = khz ? FAIR_WINDOW_MS * khz : UINT64_MAX; /* khz: cycles a millisecond */
    partition_init();
}

bool sched_started(void) { return __atomic_load_n(&started, __ATOMIC_ACQUIRE); }

void sched_start(void)
{
    hv_lock_start();
    hv_lock_enter();
    hypercall_fast_init(!hv_lock_smp && !partitioned());
    wake_one_cpu = !hv_lock_smp && !partitioned();
    plain_switch_on = !hv_lock_smp && !partitioned() && arch_switch_plain_on();
    sched_plain_ports();
    __atomic_store_n(&started, true, __ATOMIC_RELEASE);
    if (smp_cpus_online() > 1)
        arch_kick_other_cpus();
}

static bool runnable(const struct vcpu *v) { return sched_runnable(v); }

/* Is d running (or about to, or entering the hypervisor from) on its CPU? */
static bool is_current(const struct vcpu *v) { return percpus[v->cpu].current == v; }

static inline __attribute__((always_inline)) void account(struct percpu *cpu, struct vcpu *v)
{
    uint64_t now = arch_cycles();
    if (v) {
        uint64_t ran = now - cpu->run_start_tsc;
        v->domain->cpu_time_cycles += ran;
        v->window_cpu_cycles += ran;
    }
    cpu->run_start_tsc = now;
}

/*
 * v is about to run on rq's CPU, or runs there as a window begins: from a window before the
 * current one, its time counts from zero. (account adds to window_cpu_cycles only for the current
 * vCPU, which always passed here, so the count it adds to is the current window's.)
 */
static inline __attribute__((always_inline)) void window_enter(const struct runqueue *rq, struct vcpu *v)
{
    if (v->window_start_ns != rq->window_start_ns) {
        v->window_start_ns = rq->window_start_ns;
        v->window_cpu_cycles = 0;
    }
}

/* Below its fair share of rq's (its CPU's) current window? (The window restarts every
 * FAIR_WINDOW_NS.) Without partitions: their queues are not in rqs[]. For sched_wake only: v is
 * placed on rq's CPU (it sleeps, so it is not down: sched_place counted it in homed, and only going
 * down or moving takes it out), so homed, the divisor, is never 0 here. */
static inline __attribute__((always_inline)) bool under_fair_share(const struct runqueue *rq, const struct vcpu *v)
{
    uint64_t used = v->window_start_ns == rq->window_start_ns ? v->window_cpu_cycles : 0;
    /* used < fair_window_cycles / homed without a division (the same but for the quotient's rounding, under
     * a cycle a vCPU; used is about a window at most, so the product cannot overflow) */
    return used * rq->homed < fair_window_cycles;
}

/* A guest timer or poll timeout of v is armed for `when`: its CPU's tick looks at it then, and
 * the CPU must not sleep past it. */
static void deadline_armed(struct vcpu *v, uint64_t when)
{
    struct runqueue *rq = &rqs[v->cpu];
    if (!when)
        return;
    if (!v->on_timers) {
        v->on_timers = true;
        v->timer_prev = NULL;
        v->timer_next = rq->timers;
        if (rq->timers)
            rq->timers->timer_prev = v;
        rq->timers = v;
    }
    if (when < rq->timers_ns)
        rq->timers_ns = when;
    if (when < rq->deadline_ns)
        rq->deadline_ns = when;
}

/* v leaves its CPU's timer list (it goes down, dies, moves, or has nothing armed any more). */
static void timers_remove(struct vcpu *v)
{
    struct runqueue *rq = &rqs[v->cpu];
    if (!v->on_timers)
        return;
    if (v->timer_prev)
        v->timer_prev->timer_next = v->timer_next;
    else
        rq->timers = v->timer_next;
    if (v->timer_next)
        v->timer_next->timer_prev = v->timer_prev;
    v->on_timers = false;
    v->timer_next = v->timer_prev = NULL;
}

static void move_to(struct vcpu *v, unsigned cpu)
{
    timers_remove(v);
    /* Its time in the old CPU's window counts in the new one's (unless that window had ended). */
    if (v->window_start_ns != rqs[v->cpu].window_start_ns)
        v->window_cpu_cycles = 0;
    v->window_start_ns = rqs[cpu].window_start_ns;
    rqs[v->cpu].homed--;
    v->cpu = cpu;
    rqs[cpu].homed++;
    deadline_armed(v, v->timer_deadline_ns);
    deadline_armed(v, v->poll_deadline_ns);
}

/* An online CPU that runs nothing and has nothing queued, or MOAT_MAX_CPUS. */
static unsigned idle_cpu(void)
{
    if (!started)
        return MOAT_MAX_CPUS;
    for (unsigned i = 0; i < smp_cpus_listed(); i++)
        if (smp_cpu_online(i) && !percpus[i].current && !rqs[i].queued)
            return i;
    return MOAT_MAX_CPUS;
}

/* Makes another CPU look at its queue (a halted CPU wakes; one in a guest enters the hypervisor). */
static void kick(unsigned cpu)
{
    if (cpu != this_cpu()->id)
        arch_kick_cpu(&percpus[cpu]);
}

/* Queues a runnable domain that is not current (at the head: a woken domain under its share).
 * general: several CPUs or partitions, as the caller found them. */
static inline __attribute__((always_inline)) void enqueue_as(struct vcpu *v, bool head, bool general)
{
    if (v->on_rq || is_current(v))
        return;
    /* Its CPU is busy and another idles: run it there instead. */
    if (general && hv_lock_smp && !v->pinned && percpus[v->cpu].current) {
        unsigned spare = idle_cpu();
        if (spare < MOAT_MAX_CPUS)
            move_to(v, spare);
    }
    if (head)
        rq_push_head(v);
    else if (general)
        rq_push(v);
    else
        rq_push_tail(v);
    if (general && hv_lock_smp && !percpus[v->cpu].current)
        kick(v->cpu);
}

/* Several CPUs (a move, a kick) or partitions (their own queues): out of line, so that the one-CPU
 * wake-up below makes no call and needs no stack frame. */
static __attribute__((__noinline__)) void enqueue_general(struct vcpu *v, bool head) { enqueue_as(v, head, true); }

/* Inlined: the wake-up of every event delivery to a blocked vCPU goes through it. */
static inline __attribute__((always_inline)) void enqueue(struct vcpu *v, bool head)
{
    if (hv_lock_smp || partitioned())
        enqueue_general(v, head);
    else
        enqueue_as(v, head, false);
}

void sched_place(struct vcpu *v, bool pinned, unsigned cpu)
{
    const struct domain *d = v->domain;
    if (partitioned()) {
        pinned = true; /* the time partitions are cut on the boot CPU only (sched_partition.c) */
        cpu = 0;
    }
    if (pinned && !smp_cpu_online(cpu)) {
        printk("domain %u '%s': cpu %u is not online; the scheduler places it\n", d->domid, d->name, cpu);
        pinned = false;
    }
    if (!pinned) {
        cpu = 0;
        for (unsigned i = 1; i < smp_cpus_listed(); i++)
            if (smp_cpu_online(i) && rqs[i].homed < rqs[cpu].homed)
                cpu = i;
    }
    v->pinned = pinned;
    v->cpu = cpu;
    rqs[cpu].homed++;
}

void sched_add(struct vcpu *v)
{
    if (runnable(v))
        enqueue(v, false);
}

void sched_add_first(struct vcpu *v)
{
    if (runnable(v))
        enqueue(v, true);
}

/*
 * smp_call on the CPU where a paused domain runs: it stops at once (its registers are in its
 * frame, saved by the interrupt). Not while that CPU is inside one of its hypercalls (a frame
 * that is not resumable): that CPU deschedules it on the way out.
 */
/* cppcheck-suppress constParameter ; an smp_call function: void (*)(void *) */
static void deschedule(void *arg)
{
    struct percpu *cpu = this_cpu();
    if (cpu->current == arg && !cpu->in_hypercall) {
        account(cpu, cpu->current);
        cpu->current = NULL;
        /* the way out must pick (syscall.S's fast path); current is NULL (the plain switch's test) */
        cpu->need_resched |= RESCHED_SWITCH | RESCHED_NO_CURRENT;
    }
}

/* v stops running on the other CPU it runs on before this returns (an IPI). */
static void stop_remote(struct vcpu *v)
{
    if (is_current(v) && v->cpu != this_cpu()->id && !smp_call(v->cpu, deschedule, v))
        panic("cpu %u did not stop domain %u vcpu %u", v->cpu, v->domain->domid, v->vcpu_id);
}

void sched_park(struct domain *d)
{
    for (unsigned i = 0; i < d->nr_vcpus; i++)
        rq_remove(&d->vcpus[i]);
}

void sched_set_paused(struct domain *d, bool paused)
{
    d->paused = paused;
    sched_plain_update(d);
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        struct vcpu *v = &d->vcpus[i];
        if (!paused) {
            sched_add(v);
            continue;
        }
        rq_remove(v);
        /* Itself: it leaves at the way out (which looks no further than need_resched). */
        if (is_current(v) && v->cpu == this_cpu()->id)
            this_cpu()->need_resched |= RESCHED_SWITCH;
        /* Running on another CPU: when pause returns, it runs no more (and uses no CPU time). */
        stop_remote(v);
    }
}

/* v no longer polls (woken, or down); d->poll_mask has a bit for each vCPU that does. */
static void stop_polling(struct vcpu *v)
{
    if (v->polling)
        v->domain->poll_mask &= (uint8_t)~(1u << v->vcpu_id);
    v->polling = false;
    v->poll_deadline_ns = 0;
}

void sched_vcpu_up(struct vcpu *v, bool pinned, unsigned cpu)
{
    if (v->state != VCPU_DOWN)
        return;
    v->state = VCPU_RUNNABLE;
    stop_polling(v); /* a poll it began while it was being taken down (sched_block_current) */
    sched_place(v, pinned, cpu);
    deadline_armed(v, v->timer_deadline_ns); /* one it set before it went down */
    sched_add(v);
}

long sched_vcpu_pin(struct vcpu *v, bool pinned, unsigned cpu)
{
    if (pinned && (cpu >= MOAT_MAX_CPUS || !smp_cpu_online(cpu)))
        return -XEN_EINVAL;
    if (partitioned() || (v->state != VCPU_DOWN && (!v->domain->paused || v->on_rq || is_current(v))))
        return -XEN_EBUSY;
    if (v->state == VCPU_DOWN) { /* sched_vcpu_up places it by these */
        v->pinned = pinned;
        v->cpu = pinned ? cpu : 0;
        return 0;
    }
    v->pinned = pinned;
    if (pinned && v->cpu != cpu)
        move_to(v, cpu); /* its home, timers included: unpausing queues it there */
    return 0;
}

void sched_vcpu_down(struct vcpu *v)
{
    if (v->state == VCPU_DOWN)
        return;
    v->state = VCPU_DOWN;
    stop_polling(v);
    rq_remove(v);
    timers_remove(v);
    rqs[v->cpu].homed--;
    if (is_current(v) && v->cpu == this_cpu()->id)
        this_cpu()->need_resched |= RESCHED_SWITCH; /* itself: it leaves at the way out */
    else
        stop_remote(v);
}

static void evict(void *arg)
{
    const struct domain *d = arg;
    struct percpu *cpu = this_cpu();
    if (cpu->current && cpu->current->domain == d) {
        account(cpu, cpu->current);
        cpu->current = NULL;
        /* the way out must pick (syscall.S's fast path); current is NULL (the plain switch's test) */
        cpu->need_resched |= RESCHED_SWITCH | RESCHED_NO_CURRENT;
    }
    arch_cpu_forget(cpu, d);
}

void sched_remove(struct domain *d)
{
    share_exit(d);
    for (unsigned i = 0; i < d->nr_vcpus; i++) {
        struct vcpu *v = &d->vcpus[i];
        if (v->state == VCPU_DOWN)
            continue;
        v->state = VCPU_DOWN;
        rq_remove(v);
        timers_remove(v);
        rqs[v->cpu].homed--;
    }
    if (partitioned())
        partition_forget(d);
    evict(d);
    /*
     * No other CPU may go on running a vCPU of d, or keep its page tables in CR3 or its extended
     * state in its registers, once its frames are given back: each that does drops them before
     * this returns (a CPU waiting for the hypervisor lock answers too).
     */
    for (unsigned i = 0; i < smp_cpus_listed(); i++) {
        const struct percpu *p = &percpus[i];
        if (i != this_cpu()->id && smp_cpu_online(i) &&
            ((p->current && p->current->domain == d) || arch_cpu_holds(p, d)) &&
            !smp_call(i, evict, d))
            panic("cpu %u did not drop domain %u", i, d->domid);
    }
}

/*
 * Every wake-up of a blocked or polling vCPU (an event, a poll's timeout). The waker keeps its
 * slice; the woken runs next (the head of its queue) if it has not used its share. With one CPU
 * and no partitions (wake_one_cpu) the queue is its CPU's, and nothing moves or is kicked: that
 * case, every event that wakes a sleeper on one CPU, is done here without enqueue_general's call
 * and tests.
 */
__attribute__((__noinline__)) long sched_wake(struct vcpu *v)
{
    if (v->state != VCPU_BLOCKED)
        return 0;
    v->state = VCPU_RUNNABLE;
    /* Most sleepers blocked rather than polled: a vCPU that does not poll has nothing to clear
     * (only stop_polling clears polling, and the timeout with it). */
    if (v->polling)
        stop_polling(v);
    if (!runnable(v))
        return 0;
    if (!wake_one_cpu) {
        enqueue_general(v, !partitioned() && under_fair_share(&rqs[v->cpu], v));
        return 0;
    }
    /* One CPU online, the boot CPU: every vCPU is placed on it (sched_place), so v's queue is
     * rqs[0] and its CPU percpus[0], without an index; its counters are not kept (rq_counted is
     * false), so the links are made without their test. */
    struct runqueue *rq = &rqs[0];
    if (v->on_rq || percpus[0].current == v)
        return 0;
    if (under_fair_share(rq, v))
        rq_link_head(rq, v, false);
    else
        rq_link_tail(rq, v, false);
    return 0;
}

long sched_notify_smp(struct vcpu *v)
{
    if (v->state == VCPU_BLOCKED)
        return sched_wake(v);
    if (is_current(v))
        kick(v->cpu); /* running on another CPU: it enters the hypervisor, which delivers the upcall */
    return 0;
}
/* Fires v's timer and ends its poll if they are due. */
static void timer_fire(struct vcpu *v, uint64_t now)
{
    if (v->timer_deadline_ns && now >= v->timer_deadline_ns) {
        v->timer_deadline_ns = 0;
        evtchn_send_vcpu_virq(v, VIRQ_TIMER);
    }
    if (v->polling && v->poll_deadline_ns && now >= v->poll_deadline_ns)
        sched_wake(v);
}

/*
 * The timers and poll timeouts of this CPU's vCPUs that are due (rq->timers_ns passed): fired,
 * and those with nothing armed any more leave the list. The cost is that of the vCPUs with
 * something armed, not of all.
 */
static void timers_due(struct runqueue *rq, unsigned cpu, uint64_t now)
{
    rq->timers_ns = UINT64_MAX;
    struct vcpu *next;
    for (struct vcpu *v = rq->timers; v; v = next) {
        next = v->timer_next; /* firing may move v (and only v) to another CPU's list */
        if (v->domain->state != DOM_RUNNABLE)
            continue; /* dying: sched_remove takes it off the list */
        timer_fire(v, now);
        if (v->cpu != cpu)
            continue; /* woken onto an idle CPU: it is on that CPU's list now, if armed */
        bool poll_armed = v->polling && v->poll_deadline_ns;
        if (!v->timer_deadline_ns && !poll_armed) {
            timers_remove(v);
            continue;
        }
        if (v->timer_deadline_ns && v->timer_deadline_ns < rq->timers_ns)
            rq->timers_ns = v->timer_deadline_ns;
        if (poll_armed && v->poll_deadline_ns < rq->timers_ns)
            rq->timers_ns = v->poll_deadline_ns;
    }
}

/*
 * The same under partitions (the boot CPU only): every domain slot at every tick, whatever the
 * timer list holds, and nothing of another partition's domains but the test that skips them. A
 * list of armed timers would make the tick's cost, which the running partition sees, depend on
 * what other partitions' domains armed (a timing channel: tests/covert, the `tick` channel).
 */
static void timers_partitioned(struct runqueue *rq, unsigned cpu, uint64_t now)
{
    rq->timers_ns = UINT64_MAX;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        struct domain *d = domain_table(i);
        if (partition_skip(d) || d->state != DOM_RUNNABLE)
            continue; /* another partition's timers wait for its time */
        for (unsigned k = 0; k < d->nr_vcpus; k++) {
            struct vcpu *v = &d->vcpus[k];
            if (v->state == VCPU_DOWN || v->cpu != cpu)
                continue;
            timer_fire(v, now);
            if (v->timer_deadline_ns && v->timer_deadline_ns < rq->timers_ns)
                rq->timers_ns = v->timer_deadline_ns;
            if (v->polling && v->poll_deadline_ns && v->poll_deadline_ns < rq->timers_ns)
                rq->timers_ns = v->poll_deadline_ns;
        }
    }
}

/*
 * This CPU's share of the tick: the fairness window, its domains' timers, the running slice, the
 * caps. Without partitions none of it walks all vCPUs: its cost does not grow with the number of
 * domains. Out of line: once a tick, and pick_next, on every switch, stays small without it.
 */
static __attribute__((__noinline__)) void sched_tick(struct percpu *cpu)
{
    struct runqueue *rq = &rqs[cpu->id];
    uint64_t now = now_ns();
    struct vcpu *cur = cpu->current;
    if (partitioned() && cpu->id == 0 && partition_tick())
        cpu->need_resched |= RESCHED_SWITCH;
    if (now - rq->window_start_ns >= FAIR_WINDOW_NS) {
        rq->window_start_ns = now; /* every vCPU's window time is stale now: nothing used yet */
        if (cur)
            window_enter(rq, cur);
    }
    if (partitioned())
        timers_partitioned(rq, cpu->id, now);
    else if (now >= rq->timers_ns)
        timers_due(rq, cpu->id, now);
    rq->deadline_ns = rq->timers_ns;
    meter_tick(now, &rq->deadline_ns); /* the stats= lines (meter.c): any CPU, so an idle one can't hold them */
    account(cpu, cur); /* a domain alone on its CPU may run for long without a switch */
    if (cur && cur->slice_left_ticks && --cur->slice_left_ticks == 0)
        cpu->need_resched |= RESCHED_SWITCH;
    if (share_tick(cpu->id, cur, now, &rq->deadline_ns)) /* caps (sched_share.c) */
        cpu->need_resched |= RESCHED_SWITCH;
}

/* A domain for an idle CPU from the longest other queue (not one pinned there), or NULL. */
static struct vcpu *steal(struct percpu *cpu)
{
    unsigned victim = MOAT_MAX_CPUS;
    for (unsigned i = 0; i < smp_cpus_listed(); i++)
        if (i != cpu->id && rqs[i].queued && (victim == MOAT_MAX_CPUS || rqs[i].queued > rqs[victim].queued))
            victim = i;
    if (victim == MOAT_MAX_CPUS)
        return NULL;
    for (struct vcpu *v = rqs[victim].head; v; v = v->rq_next)
        if (!v->pinned) {
            rq_remove(v);
            move_to(v, cpu->id);
            return v;
        }
    return NULL;
}

/*
 * One other vCPU queued (two taking turns, the common case): cur, still runnable, takes next's
 * place, the same as rq_push(cur) then rq_remove(next), without the list upkeep. Neither vCPU's
 * links are written: a queue's only vCPU has both links NULL (its head's prev and its tail's
 * next), and so does every vCPU off the queues (rq_unlink clears them, and the only vCPU leaves
 * here or in rq_take_only with them NULL), so next leaves and cur arrives with the links they need.
 */
static inline __attribute__((always_inline)) void rq_take_turn(struct runqueue *rq, struct vcpu *cur,
                                                               struct vcpu *next, bool counted)
{
    if (counted) {
        rq_count_out(rq, next);
        rq_count_in(rq, cur);
    }
    next->on_rq = false;
    cur->on_rq = true;
    rq->head = rq->tail = cur;
}

/* next, the only one queued (without partitions), leaves the queue, which empties. */
static inline __attribute__((always_inline)) void rq_take_only(struct runqueue *rq, struct vcpu *next, bool counted)
{
    if (counted)
        rq_count_out(rq, next);
    next->on_rq = false;
    rq->head = rq->tail = NULL;
}

/*
 * The scheduler's decision, in one place: what this CPU runs next (NULL: it idles). The current
 * domain goes on until its slice ends, it yields or blocks; then the head of this CPU's queue
 * runs, or, when the queue is empty, a domain taken from another CPU's.
 */
static struct vcpu *pick_next(struct percpu *cpu)
{
    struct vcpu *cur = cpu->current;
    if (!cpu->need_resched && cur && runnable(cur) && !partitioned())
        return cur;
    if (cpu->need_resched & RESCHED_TICK) { /* the tick's work, then maybe the same domain goes on */
        cpu->need_resched &= ~RESCHED_TICK;
        sched_tick(cpu);
        if (!cpu->need_resched && cur && runnable(cur) && !partitioned())
            return cur;
    }
    if (partitioned()) /* the fixed cycle decides (sched_partition.c), on the boot CPU only */
        return cpu->id == 0 ? partition_pick() : NULL;
    cpu->need_resched = 0;
    struct runqueue *rq = &rqs[cpu->id];
    struct vcpu *next = rq->head;
    if (cur && runnable(cur)) {
        if (!next)
            return cur; /* nobody else to run here: it goes on */
        if (next == rq->tail && !cur->on_rq) {
            rq_take_turn(rq, cur, next, true);
            window_enter(rq, next);
            return next;
        }
        rq_push(cur); /* its slice is over, or it yielded: to the back of the queue */
        next = rq->head;
    }
    if (next && next == rq->tail && !partitioned()) /* the only one queued: the queue empties */
        rq_take_only(rq, next, true);
    else if (next)
        rq_remove(next);
    else
        next = steal(cpu);
    if (next)
        window_enter(rq, next);
    return next;
}

/* next's slice; the default weight (nearly every domain) without the call into sched_share.c. */
static inline uint64_t slice_of(struct vcpu *next)
{
    struct domain *d = next->domain;
    return d->share.weight == SHARE_WEIGHT_DEFAULT ? slice_ticks : share_slice(d, slice_ticks);
}

/* next becomes current (from prev, current until now), with a new slice: the scheduler's part of
 * a switch. */
static inline __attribute__((always_inline)) void switch_current(struct percpu *cpu, struct vcpu *prev,
                                                                 struct vcpu *next, uint64_t slice)
{
    account(cpu, prev);
    cpu->current = next; /* (the syscall fast path finds its frame, counters and vcpu_info there) */
    next->slice_left_ticks = slice;
}

/*
 * Makes next the running domain: its devices, then its registers, address space and extended
 * state (FPU/SSE/AVX, eagerly: the previous owner's are saved, arch_switch_to). While a domain
 * stays current its extended state stays in the registers, so nothing is done for it then. False
 * (and *why) if next's saved extended state was refused: the caller kills it.
 */
static bool switch_to(struct vcpu *next, const char **why)
{
    struct percpu *cpu = this_cpu();
    if (cpu->current != next) {
        switch_current(cpu, cpu->current, next, slice_of(next));
        device_switch_to(next->domain);
        return arch_switch_to(cpu, next, why);
    }
    if (!next->slice_left_ticks)
        next->slice_left_ticks = slice_of(next);
    return true;
}

/* Has v (current) an upcall to take at the way out: a callback, and its vcpu_info's upcall pending
 * and unmasked? The vcpu_info is read only for a vCPU with a callback (a switch to one without
 * tests nothing else). */
static inline __attribute__((always_inline)) bool upcall_due(const struct vcpu *v)
{
    if (!v->callback_rip)
        return false;
    const struct vcpu_info *vi = vcpu_info_of(v);
    return vi->evtchn_upcall_pending && !vi->evtchn_upcall_mask;
}

/* v (current, vi its vcpu_info) takes the upcall upcall_due found: its context onto its stack,
 * events masked until its iret. False if the guest stack is bad. The mask is set first, so that
 * the caller keeps nothing across the push: a push that fails kills v's domain (kill_bad_stack),
 * and nobody reads its mask again. */
static inline __attribute__((always_inline)) bool upcall_enter(struct vcpu *v, struct vcpu_info *vi)
{
    vi->evtchn_upcall_mask = 1;
    return arch_upcall_push(v);
}

/*
 * Enters the event callback if an upcall is pending and unmasked: the interrupted context goes
 * onto the guest stack (arch_upcall_push) and events are masked until the guest's iret. False if
 * the guest stack is bad. vi is v's (vcpu_info_of: v is current).
 */
static inline __attribute__((always_inline)) bool deliver_upcall(struct vcpu *v, struct vcpu_info *vi)
{
    return !upcall_due(v) || upcall_enter(v, vi);
}

/*
 * Halts until this CPU may have something to do: another CPU queued work for it (the wake IPI),
 * its queue or another's holds a domain it may run, or a timer of its domains is due (or, under
 * partitions, for the boot CPU, any tick). A tick
 * that brings none of these halts again without taking the hypervisor lock, so idle CPUs do not
 * contend with busy ones. The reads are hints without the lock: a wake-up that races with them
 * comes with an IPI, and a due timer is seen at the next tick.
 */
static void idle(struct percpu *cpu)
{
    for (;;) {
        cpu->woken = false;
        console_drain(); /* the deferred audit lines: printed when there is time */
        arch_idle();
        arch_irq_disable();
        if (!hv_lock_smp || __atomic_load_n(&cpu->woken, __ATOMIC_RELAXED))
            return;
        /* Under partitions the boot CPU's every tick counts: the cycle's boundaries are found by
         * the tick (partition_tick), and its queues are not in rqs[]. */
        if (partitioned() && cpu->id == 0)
            return;
        const struct runqueue *rq = &rqs[cpu->id];
        if (__atomic_load_n(&rq->queued, __ATOMIC_RELAXED) ||
            now_ns() >= __atomic_load_n(&rq->deadline_ns, __ATOMIC_RELAXED))
            return;
        for (unsigned i = 0; i < smp_cpus_listed(); i++)
            if (__atomic_load_n(&rqs[i].movable, __ATOMIC_RELAXED))
                return;
    }
}

/*
 * The common exit, when nothing is to be decided: the current vCPU may go on (pick_next's first
 * test), its slice is running (switch_to with next == current does nothing then) and no upcall is
 * due (deliver_upcall would do nothing). Kept apart from exit_to_guest_slow so that the hypercall
 * and trap exits that take it do not pay that function's frame (its saved registers).
 */
static bool stays_current(struct vcpu *cur)
{
    if (this_cpu_resched_pending() || !cur || partitioned() || !runnable(cur) || !cur->slice_left_ticks)
        return false;
    return !upcall_due(cur);
}

static __attribute__((__noinline__, __used__)) noreturn void exit_to_guest_slow(void);

/* Called with the hypervisor lock held (every entry takes it); releases it on the way out. */
noreturn void exit_to_guest(void)
{
    struct percpu *cpu = this_cpu();
    arch_irq_disable(); /* before need_resched is read: the tick sets it */
    if (stays_current(cpu->current)) {
        hv_lock_exit();
        lock_check_none_held("returns to a guest");
        return_to_guest();
    }
    exit_to_guest_slow();
}

/* next's extended state was refused (it is current now): it is killed, and the scheduler picks again. */
static __attribute__((__noinline__, __cold__)) void kill_refused(struct vcpu *next, const char *why)
{
    printk("domain %u '%s': its extended CPU state was refused: %s\n", next->domain->domid, next->domain->name, why);
    domain_destroy(next->domain, OUTCOME_KILLED, "bad extended CPU state");
}

/* next (current) cannot take its upcall: its stack is bad. It is killed, and the scheduler picks again. */
static __attribute__((__noinline__, __cold__)) void kill_bad_stack(struct vcpu *next)
{
    printk("domain %u '%s': cannot push an upcall frame at rsp=0x%lx: %s\n", next->domain->domid, next->domain->name,
           arch_vcpu_stack(next), arch_upcall_frame_in_range(next) ? "a store faulted" : "out of the user range");
    domain_destroy(next->domain, OUTCOME_KILLED, "bad stack for an event upcall");
}

static __attribute__((__noinline__, __used__)) noreturn void exit_to_guest_slow(void)
{
    struct percpu *cpu = this_cpu();
    for (;;) {
        arch_irq_disable();
        struct vcpu *next = pick_next(cpu);
        if (next) {
            const char *why;
            if (!switch_to(next, &why)) {
                kill_refused(next, why);
                continue;
            }
            if (!deliver_upcall(next, vcpu_info_of(next))) { /* next is current now */
                kill_bad_stack(next);
                continue;
            }
            hv_lock_exit();
            lock_check_none_held("returns to a guest");
            return_to_guest();
        }
        if (domain_live_count() == 0)
            domains_all_stopped();
        account(cpu, cpu->current);
        cpu->current = NULL; /* idle: the hypervisor stack, interrupts on, until something wakes */
        hv_lock_exit();
        lock_check_none_held("halts idle");
        idle(cpu);
        hv_lock_enter();
    }
}

/* The C path's hypercall exit: exit_to_guest_slow under a second name (no extra call or frame). */
noreturn void exit_to_guest_general(void) __attribute__((alias("exit_to_guest_slow")));

/* The plain switch's return to the guest: hv_lock_exit but for its test (plain_switch takes no
 * lock), then return_to_guest. */
static inline __attribute__((always_inline)) noreturn void plain_return(void)
{
    lock_check_release(LOCK_HV);
    lock_check_none_held("returns to a guest");
    return_to_guest();
}

/* exit_with_upcall's way out when the push failed: the current vCPU's domain is killed, and the
 * scheduler picks again. Out of line, finding the vCPU itself, so that exit_with_upcall keeps no
 * register across the push. */
static __attribute__((__noinline__, __cold__)) noreturn void exit_bad_stack(void)
{
    kill_bad_stack(this_cpu()->current);
    exit_to_guest_slow();
}

/* The plain switch's way out when next (current now) has an upcall due (upcall_due): out of line,
 * so that the plain switch keeps no register across the push. No frame-pointer link, as its one
 * caller (exit_to_guest_resched) keeps none: the chain ended there anyway. */
static __attribute__((__noinline__)) NO_FRAME_POINTER noreturn void exit_with_upcall(struct vcpu *next)
{
    if (!upcall_enter(next, vcpu_info_of(next)))
        exit_bad_stack();
    plain_return();
}

/* The plain switch's end: into v, current, by its upcall if
 * one is due (deliver_upcall's test), else straight back. Each of the plain switch's two cases
 * ends with its own copy, so that neither jumps to a shared one. */
static inline __attribute__((always_inline)) noreturn void plain_exit(struct vcpu *v)
{
    if (upcall_due(v))
        exit_with_upcall(v);
    plain_return();
}

/* The plain switch's way out when the CPU refused next's extended state (next is current, the
 * registers have no owner): switch_to's slow part decides, as for any switch. */
static __attribute__((__noinline__, __cold__)) noreturn void exit_refused(struct vcpu *next)
{
    const char *why;
    if (!arch_switch_refused(next, &why))
        kill_refused(next, why);
    exit_to_guest_slow();
}

/*
 * The way out when work is pending but its test can tell: whatever the word holds (a tick's
 * work, RESCHED_FRAME after the iret hypercall, or a switch the plain switch does not take), the
 * general path decides. RESCHED_FRAME is syscall.S's (the frame was rewritten: no direct sysret);
 * the general path ends in return_to_guest, which checks everything, so the bit is done with and
 * cleared before pick_next reads the word (which would otherwise take it for a switch).
 */
static __attribute__((__noinline__)) noreturn void exit_resched_general(struct percpu *cpu)
{
    cpu->need_resched &= ~RESCHED_FRAME;
    exit_to_guest_slow();
}

/*
 * The way out when work is pending (the syscall fast path, syscall.S). Its common case, a yield
 * or a block with one CPU, is the plain switch: exactly what exit_to_guest_slow would do there
 * (pick_next's cases without a tick, switch_to, deliver_upcall), with every condition tested
 * before anything is changed, and without a call that returns, so that it keeps no stack frame
 * and saves no register. Whatever else is pending (a tick's work, a cap, partitions, several
 * CPUs, an idle CPU, a device, a weight, a pause, another extended-state owner) goes to
 * exit_to_guest_slow before anything changed. Interrupts are off since the guest's syscall
 * (MSR_FMASK), so the tick cannot change the word it tests.
 *
 * The conditions that change rarely are kept as flags by the places that change them, so that
 * each switch tests little for them: switch_general (one CPU, no partitions, the extended
 * state's fast path, and no device's I/O ports open: sched_plain_ports), in the same compare as
 * the work word, and each domain's switch_plain (no device, the default weight, not paused, not
 * parked: sched_plain_update). A vCPU whose
 * state is VCPU_RUNNABLE in a domain with switch_plain is runnable(): so the yield is told from
 * the block by the state alone, and a runnable vCPU of a domain without the flag takes the
 * general path.
 */
NO_FRAME_POINTER noreturn void exit_to_guest_resched(struct percpu *cpu)
{
    struct runqueue *rq = &rqs[0]; /* switch_general 0: the boot CPU's, this one */
    struct vcpu *cur = cpu->current, *next = rq->head;
    /* The work word RESCHED_SWITCH alone and switch_general 0; cur is not NULL (evict and
     * deschedule add RESCHED_NO_CURRENT when they empty it) */
    if (cpu->resched_word != RESCHED_SWITCH)
        exit_resched_general(cpu);
    if (__builtin_expect(!next, 0)) { /* nobody queued: a yielder goes on (a blocked one leaves the CPU idle) */
        if (!runnable(cur) || !cur->slice_left_ticks)
            exit_to_guest_slow();
        percpu_resched_clear(cpu);
        plain_exit(cur);
    }
    /* next's domain: no device (and switch_general 0: no ports open), the default weight */
    if (!next->domain->switch_plain || !arch_switch_plain_ok(cpu, cur, next))
        exit_to_guest_slow();
    /* pick_next's cases, next at the head (one CPU: the queue's counters are not kept) */
    if (cur->state == VCPU_RUNNABLE) { /* it yielded: it takes next's place, or goes to the tail */
        if (!cur->domain->switch_plain || cur->on_rq) /* paused or parked: runnable() is false */
            exit_to_guest_slow();
        percpu_resched_clear(cpu);
        if (next == rq->tail)
            rq_take_turn(rq, cur, next, false);
        else {
            rq_link_tail(rq, cur, false); /* rq_push(cur) */
            rq_unlink(rq, next, false);   /* rq_remove(next) */
        }
    } else { /* it blocked (or is down): it leaves the CPU */
        percpu_resched_clear(cpu);
        if (next == rq->tail)
            rq_take_only(rq, next, false);
        else
            rq_unlink(rq, next, false);
    }
    window_enter(rq, next);
    switch_current(cpu, cur, next, slice_ticks); /* slice_of(next): the default weight */
    if (!arch_switch_plain(cpu, cur, next))
        exit_refused(next);
    plain_exit(next);
}

/* v sleeps polling (any event of its domain wakes it: it re-checks its ports), until `timeout`
 * (system time, ns; 0: none). */
static void poll_sleep(struct vcpu *v, uint64_t timeout)
{
    sched_poll_sleep(v);
    v->poll_deadline_ns = timeout;
    deadline_armed(v, timeout);
}

/* Out of line as sched_shutdown: its port array would give do_sched_op a stack frame. */
static __attribute__((__noinline__)) long sched_poll(struct vcpu *v, uint64_t arg)
{
    struct sched_poll p;
    if (copy_from_guest(&p, arg, sizeof(p)))
        return -XEN_EFAULT;
    if (p.nr_ports > SCHED_POLL_MAX_PORTS)
        return -XEN_EINVAL;
    evtchn_port_t ports[SCHED_POLL_MAX_PORTS];
    if (p.nr_ports && copy_from_guest(ports, p.ports, p.nr_ports * sizeof(ports[0])))
        return -XEN_EFAULT;
    for (uint32_t i = 0; i < p.nr_ports; i++) {
        if (!evtchn_port_valid(v->domain, ports[i]))
            return -XEN_EINVAL;
        if (evtchn_is_pending(v->domain, ports[i]))
            return 0;
    }
    if (p.timeout && p.timeout <= now_ns())
        return 0;
    poll_sleep(v, p.timeout);
    return 0;
}

/* SCHEDOP_shutdown: out of line, so that the yield and the block need no stack frame. */
static __attribute__((__noinline__, __cold__)) long sched_shutdown(struct vcpu *v, uint64_t arg)
{
    struct sched_shutdown s;
    if (copy_from_guest(&s, arg, sizeof(s)))
        return -XEN_EFAULT;
    if (s.reason != SHUTDOWN_poweroff && s.reason != SHUTDOWN_reboot && s.reason != SHUTDOWN_crash)
        return -XEN_EINVAL;
    domain_destroy(v->domain, s.reason == SHUTDOWN_poweroff ? OUTCOME_POWEROFF
                      : s.reason == SHUTDOWN_reboot ? OUTCOME_REBOOT
                                                    : OUTCOME_CRASH,
                   NULL);
    return 0;
}

long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a4, (void)a5;
    /* The yield and the block first, each with one compare: the switch's and the event loop's. */
    if (cmd == SCHEDOP_yield) {
        this_cpu_resched(RESCHED_SWITCH);
        return 0;
    }
    struct percpu *cpu = this_cpu();
    struct vcpu *v = cpu->current;
    if (cmd == SCHEDOP_block) {
        struct vcpu_info *vi = vcpu_info_of(v);
        vi->evtchn_upcall_mask = 0; /* Xen's semantics: blocking enables event delivery */
        if (vi->evtchn_upcall_pending)
            return 0;
        sched_block_current(v);
        return 0;
    }
    switch (cmd) {
    case SCHEDOP_poll:
        return sched_poll(v, arg);
    case SCHEDOP_send_poll: /* event_channel.c: the send, the test and the sleep in one frame */
        return evtchn_send_poll(v, arg, a3);
    case SCHEDOP_shutdown:
        return sched_shutdown(v, arg);
    default:
        return -XEN_ENOSYS;
    }
}

long do_set_timer_op(uint64_t deadline_ns, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct vcpu *v = current_vcpu();
    v->timer_deadline_ns = deadline_ns;
    deadline_armed(v, deadline_ns);
    if (deadline_ns && deadline_ns <= now_ns()) { /* already passed: fire now, as Xen does */
        v->timer_deadline_ns = 0;
        evtchn_send_vcpu_virq(v, VIRQ_TIMER);
    }
    return 0;
}

bool guest_code_address(const struct domain *d, uint64_t addr)
{
    return addr >= GUEST_RAM_VA && addr < GUEST_RAM_VA + d->nr_pages * PAGE_SIZE;
}

long do_set_callbacks(uint64_t entry, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct vcpu *v = current_vcpu();
    if (entry && !guest_code_address(v->domain, entry))
        return -XEN_EINVAL;
    v->callback_rip = entry;
    return 0;
}

/* The end of an upcall: the interrupted context back from the frame (arch_upcall_pop), events unmasked. */
long do_iret(uint64_t frame, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct vcpu *v = current_vcpu();
    long ret;
    long rc = arch_upcall_pop(v, frame, &ret);
    if (rc)
        return rc;
    vcpu_info_of(v)->evtchn_upcall_mask = 0;
    return ret;
}
