// SPDX-License-Identifier: MIT
// Scheduling, blocking, timers and when to deliver an upcall (the frame itself: arch/x86_64/upcall.c).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/event_channel.h>
#include <moat/lib.h>
#include <moat/sched.h>
#include <moat/sched_partition.h>
#include <moat/shutdown.h>
#include <moat/timer.h>
#include <public/sched.h>

static uint64_t slice_ticks = 10 * TICK_HZ / 1000; /* 10 ms unless the manifest says otherwise */
static uint64_t run_start_tsc;

/*
 * The run queue: every runnable, unpaused domain except the running one, in the order they will
 * run (a FIFO: round robin). Picking, requeueing and waking are O(1), whatever the number of
 * domains.
 *
 * A woken domain goes to the head of the queue (it runs as soon as the current one gives way)
 * only while it has used less than its fair share of the CPU in the current window: domains
 * that mostly wait for events get low latency, while domains that keep waking each other cannot
 * starve a third, since once over their share they queue like everyone else.
 */
#define FAIR_WINDOW_NS 100000000ULL /* 100 ms */
static struct domain *rq_head, *rq_tail;
static uint64_t window_start_ns;

static void rq_push_head(struct domain *d)
{
    if (d->on_rq)
        return;
    d->on_rq = true;
    d->rq_prev = NULL;
    d->rq_next = rq_head;
    if (rq_head)
        rq_head->rq_prev = d;
    else
        rq_tail = d;
    rq_head = d;
}

static void rq_push(struct domain *d)
{
    if (partitioned()) {
        partition_enqueue(d);
        return;
    }
    if (d->on_rq)
        return;
    d->on_rq = true;
    d->rq_next = NULL;
    d->rq_prev = rq_tail;
    if (rq_tail)
        rq_tail->rq_next = d;
    else
        rq_head = d;
    rq_tail = d;
}

static void rq_remove(struct domain *d)
{
    if (partitioned()) {
        partition_dequeue(d);
        return;
    }
    if (!d->on_rq)
        return;
    if (d->rq_prev)
        d->rq_prev->rq_next = d->rq_next;
    else
        rq_head = d->rq_next;
    if (d->rq_next)
        d->rq_next->rq_prev = d->rq_prev;
    else
        rq_tail = d->rq_prev;
    d->on_rq = false;
    d->rq_next = d->rq_prev = NULL;
}

void sched_init(uint32_t slice_us)
{
    if (slice_us)
        slice_ticks = MAX(1, (uint64_t)slice_us * TICK_HZ / 1000000);
    partition_init();
}

static bool runnable(const struct domain *d) { return d->state == DOM_RUNNABLE && !d->paused; }

static void account(struct domain *d)
{
    uint64_t now = arch_cycles();
    if (d && tsc_khz()) {
        uint64_t ns = (now - run_start_tsc) * 1000000 / tsc_khz();
        d->cpu_time_ns += ns;
        d->window_cpu_ns += ns;
    }
    run_start_tsc = now;
}

/* Below its fair share of the current window? (The window restarts every FAIR_WINDOW_NS.) */
static bool under_fair_share(const struct domain *d)
{
    unsigned live = domain_live_count();
    return !partitioned() && live && d->window_cpu_ns < FAIR_WINDOW_NS / live;
}

void sched_add(struct domain *d)
{
    if (runnable(d) && this_cpu()->current != d)
        rq_push(d);
}

void sched_set_paused(struct domain *d, bool paused)
{
    d->paused = paused;
    if (paused)
        rq_remove(d);
    else
        sched_add(d);
}

void sched_remove(struct domain *d)
{
    struct percpu *cpu = this_cpu();
    rq_remove(d);
    if (partitioned())
        partition_forget(d);
    if (cpu->current == d) {
        account(d);
        cpu->current = NULL;
        cpu->cur_regs = NULL;
    }
}

void sched_wake(struct domain *d)
{
    if (d->state == DOM_BLOCKED) {
        d->state = DOM_RUNNABLE;
        d->vcpu.polling = false;
        d->vcpu.poll_deadline_ns = 0;
        /* The waker keeps its slice; the woken runs next if it has not used its share. */
        if (under_fair_share(d) && this_cpu()->current != d)
            rq_push_head(d);
        else
            sched_add(d);
    }
}

void sched_tick(void)
{
    struct percpu *cpu = this_cpu();
    uint64_t now = now_ns();
    bool new_window = now - window_start_ns >= FAIR_WINDOW_NS;
    if (partitioned() && partition_tick())
        cpu->need_resched = 1;
    if (new_window)
        window_start_ns = now;
    for (unsigned i = 0; i < MOAT_MAX_DOMAINS; i++) {
        struct domain *d = domain_table(i);
        if (partitioned() && partition_skip(d))
            continue; /* another partition's timers wait for its time */
        if (d->state != DOM_RUNNABLE && d->state != DOM_BLOCKED)
            continue;
        if (new_window)
            d->window_cpu_ns = 0;
        if (d->vcpu.timer_deadline_ns && now >= d->vcpu.timer_deadline_ns) {
            d->vcpu.timer_deadline_ns = 0;
            evtchn_send_virq(d, VIRQ_TIMER);
        }
        if (d->vcpu.polling && d->vcpu.poll_deadline_ns && now >= d->vcpu.poll_deadline_ns)
            sched_wake(d);
    }
    struct domain *cur = cpu->current;
    if (cur && cur->slice_left_ticks && --cur->slice_left_ticks == 0)
        cpu->need_resched = 1;
}

static struct domain *pick_next(void)
{
    struct percpu *cpu = this_cpu();
    if (partitioned())
        return partition_pick();
    struct domain *cur = cpu->current;
    if (cur && runnable(cur) && !cpu->need_resched)
        return cur;
    cpu->need_resched = 0;
    if (cur && runnable(cur))
        rq_push(cur); /* its slice is over, or it yielded: to the back of the queue */
    struct domain *next = rq_head;
    if (next)
        rq_remove(next);
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
        account(cpu->current);
        cpu->current = next;
        next->slice_left_ticks = slice_ticks;
        device_switch_to(next);
        return arch_switch_to(cpu, next, why);
    }
    if (!next->slice_left_ticks)
        next->slice_left_ticks = slice_ticks;
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

noreturn void exit_to_guest(void)
{
    struct percpu *cpu = this_cpu();
    for (;;) {
        arch_irq_disable();
        struct domain *next = pick_next();
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
            return_to_guest();
        }
        if (domain_live_count() == 0)
            domains_all_stopped();
        account(cpu->current);
        cpu->current = NULL; /* idle: the hypervisor stack, interrupts on, until something wakes */
        arch_idle();
    }
}

/* Blocks the current domain; it leaves through exit_to_guest(), which picks another. */
static void block_current(struct domain *d)
{
    d->state = DOM_BLOCKED;
    this_cpu()->need_resched = 1;
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
    block_current(d);
    return 0;
}

long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5)
{
    (void)a3, (void)a4, (void)a5;
    struct domain *d = current_domain();
    switch (cmd) {
    case SCHEDOP_yield:
        this_cpu()->need_resched = 1;
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
