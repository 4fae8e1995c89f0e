// SPDX-License-Identifier: MIT
// Scheduling, blocking, timers and when to deliver an upcall (the frame itself: arch/x86_64/upcall.c).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/event_channel.h>
#include <moat/hvlock.h>
#include <moat/lib.h>
#include <moat/meter.h>
#include <moat/sched.h>
#include <moat/sched_partition.h>
#include <moat/sched_share.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/timer.h>
#include <public/sched.h>

static uint64_t slice_ticks = 10 * TICK_HZ / 1000; /* 10 ms unless the manifest says otherwise */

/*
 * One run queue per CPU: every runnable, unpaused domain whose CPU it is, except the one running
 * there, in the order they will run (a FIFO: round robin). Picking, requeueing and waking are
 * O(1), whatever the number of domains. A domain is current only on its own CPU (d->cpu); it
 * changes CPU only while it is not current anywhere: placed at creation on the CPU with the
 * fewest domains, moved to an idle CPU when it becomes runnable on a busy one, or taken by a
 * CPU whose queue ran dry (unless pinned by the scenario's `cpu = k`).
 *
 * A woken domain goes to the head of its queue (it runs as soon as the current one gives way)
 * only while it has used less than its fair share of its CPU in the current window (the window
 * divided by the domains of that CPU): domains that mostly wait for events get low latency,
 * while domains that keep waking each other cannot starve a third, since once over their share
 * they queue like everyone else.
 *
 * Everything here runs under the hypervisor lock (moat/hvlock.h).
 */
#define FAIR_WINDOW_NS 100000000ULL /* 100 ms */
struct runqueue {
    struct domain *head, *tail;
    unsigned queued;   /* domains on the queue */
    unsigned movable;  /* of which not pinned: what an idle CPU may take */
    unsigned homed;    /* live domains whose CPU this is: the fair-share divisor */
    uint64_t window_start_ns;
    uint64_t deadline_ns; /* no guest timer or poll timeout of its domains is due before this */
};
static struct runqueue rqs[MOAT_MAX_CPUS];
static bool started; /* the boot CPU has built the domains: every CPU schedules */

static void rq_push_head(struct domain *d)
{
    struct runqueue *rq = &rqs[d->cpu];
    if (d->on_rq)
        return;
    d->on_rq = true;
    rq->queued++;
    rq->movable += !d->pinned;
    d->rq_prev = NULL;
    d->rq_next = rq->head;
    if (rq->head)
        rq->head->rq_prev = d;
    else
        rq->tail = d;
    rq->head = d;
}

static inline __attribute__((always_inline)) void rq_push(struct domain *d)
{
    if (partitioned()) {
        partition_enqueue(d);
        return;
    }
    struct runqueue *rq = &rqs[d->cpu];
    if (d->on_rq)
        return;
    d->on_rq = true;
    rq->queued++;
    rq->movable += !d->pinned;
    d->rq_next = NULL;
    d->rq_prev = rq->tail;
    if (rq->tail)
        rq->tail->rq_next = d;
    else
        rq->head = d;
    rq->tail = d;
}

static inline __attribute__((always_inline)) void rq_remove(struct domain *d)
{
    if (partitioned()) {
        partition_dequeue(d);
        return;
    }
    struct runqueue *rq = &rqs[d->cpu];
    if (!d->on_rq)
        return;
    if (d->rq_prev)
        d->rq_prev->rq_next = d->rq_next;
    else
        rq->head = d->rq_next;
    if (d->rq_next)
        d->rq_next->rq_prev = d->rq_prev;
    else
        rq->tail = d->rq_prev;
    d->on_rq = false;
    rq->queued--;
    rq->movable -= !d->pinned;
    d->rq_next = d->rq_prev = NULL;
}

void sched_init(uint32_t slice_us)
{
    if (slice_us)
        slice_ticks = MAX(1, (uint64_t)slice_us * TICK_HZ / 1000000);
    partition_init();
}

bool sched_started(void) { return __atomic_load_n(&started, __ATOMIC_ACQUIRE); }

void sched_start(void)
{
    hv_lock_start();
    hv_lock_enter();
    __atomic_store_n(&started, true, __ATOMIC_RELEASE);
    if (smp_cpus_online() > 1)
        arch_kick_other_cpus();
}

static bool runnable(const struct domain *d) { return d->state == DOM_RUNNABLE && !d->paused && !d->share.parked; }

/* Is d running (or about to, or entering the hypervisor from) on its CPU? */
static bool is_current(const struct domain *d) { return percpus[d->cpu].current == d; }

static inline __attribute__((always_inline)) void account(struct percpu *cpu, struct domain *d)
{
    uint64_t now = arch_cycles();
    if (d && tsc_khz()) {
        uint64_t ns = (now - cpu->run_start_tsc) * 1000000 / tsc_khz();
        d->cpu_time_ns += ns;
        d->window_cpu_ns += ns;
    }
    cpu->run_start_tsc = now;
}

/* Below its fair share of its CPU's current window? (The window restarts every FAIR_WINDOW_NS.) */
static bool under_fair_share(const struct domain *d)
{
    unsigned homed = rqs[d->cpu].homed;
    return !partitioned() && homed && d->window_cpu_ns < FAIR_WINDOW_NS / homed;
}

/* A guest timer or poll timeout of d is armed for `when`: its CPU must not sleep past it. */
static void deadline_armed(const struct domain *d, uint64_t when)
{
    struct runqueue *rq = &rqs[d->cpu];
    if (when && when < rq->deadline_ns)
        rq->deadline_ns = when;
}

static void move_to(struct domain *d, unsigned cpu)
{
    rqs[d->cpu].homed--;
    d->cpu = cpu;
    rqs[cpu].homed++;
    deadline_armed(d, d->vcpu.timer_deadline_ns);
    deadline_armed(d, d->vcpu.poll_deadline_ns);
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

/* Queues a runnable domain that is not current (at the head: a woken domain under its share). */
static void enqueue(struct domain *d, bool head)
{
    if (d->on_rq || is_current(d))
        return;
    /* Its CPU is busy and another idles: run it there instead. */
    if (hv_lock_smp && !d->pinned && percpus[d->cpu].current) {
        unsigned spare = idle_cpu();
        if (spare < MOAT_MAX_CPUS)
            move_to(d, spare);
    }
    if (head)
        rq_push_head(d);
    else
        rq_push(d);
    if (hv_lock_smp && !percpus[d->cpu].current)
        kick(d->cpu);
}

void sched_place(struct domain *d, bool pinned, unsigned cpu)
{
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
    d->pinned = pinned;
    d->cpu = cpu;
    rqs[cpu].homed++;
}

void sched_add(struct domain *d)
{
    if (runnable(d))
        enqueue(d, false);
}

void sched_add_first(struct domain *d)
{
    if (runnable(d))
        enqueue(d, true);
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
    }
}

void sched_set_paused(struct domain *d, bool paused)
{
    d->paused = paused;
    if (!paused) {
        sched_add(d);
        return;
    }
    rq_remove(d);
    /* Running on another CPU: when pause returns, it runs no more (and uses no CPU time). */
    if (is_current(d) && d->cpu != this_cpu()->id && !smp_call(d->cpu, deschedule, d))
        panic("cpu %u did not stop domain %u", d->cpu, d->domid);
}

static void evict(void *arg)
{
    struct domain *d = arg;
    struct percpu *cpu = this_cpu();
    if (cpu->current == d) {
        account(cpu, d);
        cpu->current = NULL;
        cpu->cur_regs = NULL;
    }
    arch_cpu_forget(cpu, d);
}

void sched_remove(struct domain *d)
{
    share_exit(d);
    rq_remove(d);
    if (partitioned())
        partition_forget(d);
    rqs[d->cpu].homed--;
    evict(d);
    /*
     * No other CPU may go on running d, or keep its page tables in CR3 or its extended state in
     * its registers, once its frames are given back: each that does drops them before this
     * returns (a CPU waiting for the hypervisor lock answers too).
     */
    for (unsigned i = 0; i < smp_cpus_listed(); i++) {
        const struct percpu *p = &percpus[i];
        if (i != this_cpu()->id && smp_cpu_online(i) &&
            (p->current == d || arch_cpu_holds(p, d)) &&
            !smp_call(i, evict, d))
            panic("cpu %u did not drop domain %u", i, d->domid);
    }
}

void sched_wake(struct domain *d)
{
    if (d->state == DOM_BLOCKED) {
        d->state = DOM_RUNNABLE;
        d->vcpu.polling = false;
        d->vcpu.poll_deadline_ns = 0;
        /* The waker keeps its slice; the woken runs next if it has not used its share. */
        if (runnable(d))
            enqueue(d, under_fair_share(d));
    }
}

void sched_notify(struct domain *d)
{
    if (d->state == DOM_BLOCKED)
        sched_wake(d);
    else if (hv_lock_smp && is_current(d))
        kick(d->cpu); /* running on another CPU: it enters the hypervisor, which delivers the upcall */
}

/* This CPU's share of the tick: the fairness window, its domains' timers, the running slice. */
static void sched_tick(struct percpu *cpu)
{
    struct runqueue *rq = &rqs[cpu->id];
    uint64_t now = now_ns();
    bool new_window = now - rq->window_start_ns >= FAIR_WINDOW_NS;
    if (partitioned() && cpu->id == 0 && partition_tick())
        cpu->need_resched |= RESCHED_SWITCH;
    if (new_window)
        rq->window_start_ns = now;
    if (cpu->id == 0)
        meter_tick(now); /* the stats= lines (meter.c) */
    rq->deadline_ns = UINT64_MAX; /* recomputed from the domains' own below */
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        struct domain *d = domain_table(i);
        if (partitioned() && partition_skip(d))
            continue; /* another partition's timers wait for its time */
        if ((d->state != DOM_RUNNABLE && d->state != DOM_BLOCKED) || d->cpu != cpu->id)
            continue;
        if (new_window)
            d->window_cpu_ns = 0;
        if (d->vcpu.timer_deadline_ns && now >= d->vcpu.timer_deadline_ns) {
            d->vcpu.timer_deadline_ns = 0;
            evtchn_send_virq(d, VIRQ_TIMER);
        }
        if (d->vcpu.polling && d->vcpu.poll_deadline_ns && now >= d->vcpu.poll_deadline_ns)
            sched_wake(d);
        deadline_armed(d, d->vcpu.timer_deadline_ns);
        if (d->vcpu.polling)
            deadline_armed(d, d->vcpu.poll_deadline_ns);
    }
    struct domain *cur = cpu->current;
    account(cpu, cur); /* a domain alone on its CPU may run for long without a switch */
    if (cur && cur->slice_left_ticks && --cur->slice_left_ticks == 0)
        cpu->need_resched |= RESCHED_SWITCH;
    if (share_tick(cpu->id, cur, now, &rq->deadline_ns)) /* caps (sched_share.c) */
        cpu->need_resched |= RESCHED_SWITCH;
}

/* A domain for an idle CPU from the longest other queue (not one pinned there), or NULL. */
static struct domain *steal(struct percpu *cpu)
{
    unsigned victim = MOAT_MAX_CPUS;
    for (unsigned i = 0; i < smp_cpus_listed(); i++)
        if (i != cpu->id && rqs[i].queued && (victim == MOAT_MAX_CPUS || rqs[i].queued > rqs[victim].queued))
            victim = i;
    if (victim == MOAT_MAX_CPUS)
        return NULL;
    for (struct domain *d = rqs[victim].head; d; d = d->rq_next)
        if (!d->pinned) {
            rq_remove(d);
            move_to(d, cpu->id);
            return d;
        }
    return NULL;
}

/*
 * The scheduler's decision, in one place: what this CPU runs next (NULL: it idles). The current
 * domain goes on until its slice ends, it yields or blocks; then the head of this CPU's queue
 * runs, or, when the queue is empty, a domain taken from another CPU's.
 */
static struct domain *pick_next(struct percpu *cpu)
{
    struct domain *cur = cpu->current;
    if (cur && runnable(cur) && !cpu->need_resched && !partitioned())
        return cur;
    if (cpu->need_resched & RESCHED_TICK) { /* the tick's work, then maybe the same domain goes on */
        cpu->need_resched &= ~RESCHED_TICK;
        sched_tick(cpu);
        if (cur && runnable(cur) && !cpu->need_resched && !partitioned())
            return cur;
    }
    if (partitioned()) /* the fixed cycle decides (sched_partition.c), on the boot CPU only */
        return cpu->id == 0 ? partition_pick() : NULL;
    cpu->need_resched = 0;
    struct runqueue *rq = &rqs[cpu->id];
    if (cur && runnable(cur)) {
        if (!rq->head)
            return cur; /* nobody else to run here: it goes on */
        rq_push(cur);   /* its slice is over, or it yielded: to the back of the queue */
    }
    struct domain *next = rq->head;
    if (next)
        rq_remove(next);
    else
        next = steal(cpu);
    return next;
}

/*
 * Makes next the running domain: its devices, then its registers, address space and extended
 * state (FPU/SSE/AVX, eagerly: the previous owner's are saved, arch_switch_to). While a domain
 * stays current its extended state stays in the registers, so nothing is done for it then. False
 * (and *why) if next's saved extended state was refused: the caller kills it.
 */
static bool switch_to(struct domain *next, const char **why)
{
    struct percpu *cpu = this_cpu();
    if (cpu->current != next) {
        account(cpu, cpu->current);
        cpu->current = next;
        next->slice_left_ticks =
            next->share.weight == SHARE_WEIGHT_DEFAULT ? slice_ticks : share_slice(next, slice_ticks);
        device_switch_to(next);
        return arch_switch_to(cpu, next, why);
    }
    if (!next->slice_left_ticks)
        next->slice_left_ticks =
            next->share.weight == SHARE_WEIGHT_DEFAULT ? slice_ticks : share_slice(next, slice_ticks);
    return true;
}

/*
 * Enters the event callback if an upcall is pending and unmasked: the interrupted context goes
 * onto the guest stack (arch_upcall_push) and events are masked until the guest's iret. False if
 * the guest stack is bad.
 */
static bool deliver_upcall(struct domain *d)
{
    struct vcpu_info *vi = &domain_shared_info(d)->vcpu_info[0];
    if (!d->vcpu.callback_rip || !vi->evtchn_upcall_pending || vi->evtchn_upcall_mask)
        return true;
    if (!arch_upcall_push(&d->vcpu, d->vcpu.callback_rip))
        return false;
    vi->evtchn_upcall_mask = 1;
    return true;
}

/*
 * Halts until this CPU may have something to do: another CPU queued work for it (the wake IPI),
 * its queue or another's holds a domain it may run, or a timer of its domains is due. A tick
 * that brings none of these halts again without taking the hypervisor lock, so idle CPUs do not
 * contend with busy ones. The reads are hints without the lock: a wake-up that races with them
 * comes with an IPI, and a due timer is seen at the next tick.
 */
static void idle(struct percpu *cpu)
{
    for (;;) {
        cpu->woken = false;
        arch_idle();
        arch_irq_disable();
        if (!hv_lock_smp || __atomic_load_n(&cpu->woken, __ATOMIC_RELAXED))
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

/* Called with the hypervisor lock held (every entry takes it); releases it on the way out. */
noreturn void exit_to_guest(void)
{
    struct percpu *cpu = this_cpu();
    for (;;) {
        arch_irq_disable();
        struct domain *next = pick_next(cpu);
        if (next) {
            const char *why;
            if (!switch_to(next, &why)) {
                printk("domain %u '%s': its extended CPU state was refused: %s\n", next->domid, next->name, why);
                domain_destroy(next, OUTCOME_KILLED, "bad extended CPU state");
                continue;
            }
            if (!deliver_upcall(next)) {
                printk("domain %u '%s': cannot push an upcall frame at rsp=0x%lx\n", next->domid, next->name,
                       arch_vcpu_stack(&next->vcpu));
                domain_destroy(next, OUTCOME_KILLED, "bad stack for an event upcall");
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

/* Blocks the current domain; it leaves through exit_to_guest(), which picks another. */
static void block_current(struct domain *d)
{
    d->state = DOM_BLOCKED;
    this_cpu()->need_resched |= RESCHED_SWITCH;
}

static long sched_poll(struct domain *d, uint64_t arg)
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
        if (!evtchn_port_valid(d, ports[i]))
            return -XEN_EINVAL;
        if (evtchn_is_pending(d, ports[i]))
            return 0;
    }
    if (p.timeout && p.timeout <= now_ns())
        return 0;
    d->vcpu.polling = true;
    d->vcpu.poll_deadline_ns = p.timeout;
    deadline_armed(d, p.timeout);
    block_current(d);
    return 0;
}

long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a3, (void)a4, (void)a5;
    struct domain *d = current_domain();
    switch (cmd) {
    case SCHEDOP_yield:
        this_cpu()->need_resched |= RESCHED_SWITCH;
        return 0;
    case SCHEDOP_block: {
        struct vcpu_info *vi = &domain_shared_info(d)->vcpu_info[0];
        vi->evtchn_upcall_mask = 0; /* Xen's semantics: blocking enables event delivery */
        if (!vi->evtchn_upcall_pending)
            block_current(d);
        return 0;
    }
    case SCHEDOP_poll:
        return sched_poll(d, arg);
    case SCHEDOP_shutdown: {
        struct sched_shutdown s;
        if (copy_from_guest(&s, arg, sizeof(s)))
            return -XEN_EFAULT;
        if (s.reason != SHUTDOWN_poweroff && s.reason != SHUTDOWN_reboot && s.reason != SHUTDOWN_crash)
            return -XEN_EINVAL;
        domain_destroy(d, s.reason == SHUTDOWN_poweroff ? OUTCOME_POWEROFF
                          : s.reason == SHUTDOWN_reboot ? OUTCOME_REBOOT
                                                        : OUTCOME_CRASH,
                       NULL);
        return 0;
    }
    default:
        return -XEN_ENOSYS;
    }
}

long do_set_timer_op(uint64_t deadline_ns, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct domain *d = current_domain();
    d->vcpu.timer_deadline_ns = deadline_ns;
    deadline_armed(d, deadline_ns);
    if (deadline_ns && deadline_ns <= now_ns()) { /* already passed: fire now, as Xen does */
        d->vcpu.timer_deadline_ns = 0;
        evtchn_send_virq(d, VIRQ_TIMER);
    }
    return 0;
}

static bool guest_code_address(const struct domain *d, uint64_t addr)
{
    return addr >= GUEST_RAM_VA && addr < GUEST_RAM_VA + d->nr_pages * PAGE_SIZE;
}

long do_set_callbacks(uint64_t entry, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct domain *d = current_domain();
    if (entry && !guest_code_address(d, entry))
        return -XEN_EINVAL;
    d->vcpu.callback_rip = entry;
    return 0;
}

/* The end of an upcall: the interrupted context back from the frame (arch_upcall_pop), events unmasked. */
long do_iret(uint64_t frame, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct domain *d = current_domain();
    long ret;
    long rc = arch_upcall_pop(&d->vcpu, frame, &ret);
    if (rc)
        return rc;
    domain_shared_info(d)->vcpu_info[0].evtchn_upcall_mask = 0;
    return ret;
}
