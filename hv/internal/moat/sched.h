/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: preemptive round robin over runnable vCPUs, driven by the LAPIC tick. The
 * hypervisor itself is never preempted: it runs with interrupts off except in the idle loop.
 */
#ifndef MOAT_SCHED_H
#define MOAT_SCHED_H

#include <moat/domain.h>
#include <moat/hvlock.h>

void sched_init(uint32_t slice_us);
/* Boot CPU, the domains built: takes the hypervisor lock and lets every CPU schedule. */
void sched_start(void);
bool sched_started(void);
/* A vCPU coming up: its CPU is `cpu` if pinned (and online), else the CPU with the fewest vCPUs. */
void sched_place(struct vcpu *v, bool pinned, unsigned cpu);
/* A runnable vCPU of an unpaused domain joins its CPU's run queue (an idle CPU's, if its own is busy). */
void sched_add(struct vcpu *v);
/* A down vCPU becomes runnable on a CPU chosen as sched_place does (VCPUOP_up, domain creation). */
void sched_vcpu_up(struct vcpu *v, bool pinned, unsigned cpu);
/* A vCPU goes down (VCPUOP_down): at once if it runs on another CPU (an IPI), at the way out if
 * it is the caller. */
void sched_vcpu_down(struct vcpu *v);
/*
 * Pins v to cpu (!pinned: the scheduler places it), if v runs nowhere: it is down (it comes up
 * there) or its domain is paused (it runs there once unpaused). 0, -XEN_EBUSY if it may be
 * running or queued (or the partitioned scheduler runs), -XEN_EINVAL if cpu is not online.
 */
long sched_vcpu_pin(struct vcpu *v, bool pinned, unsigned cpu);
/* The same, at the head of the queue: it runs when the current vCPU gives way (sched_share.c). */
void sched_add_first(struct vcpu *v);
/* d's cap is used (sched_share.c): its queued vCPUs leave their queues, as they are no longer
 * runnable (a running one stops at its CPU's next tick; sched_add_first queues them again). */
void sched_park(struct domain *d);
/* Pausing a domain makes every CPU that runs one of its vCPUs stop running it at once (an IPI). */
void sched_set_paused(struct domain *d, bool paused);
/* A dying domain leaves the scheduler; when this returns no CPU runs any of its vCPUs or holds
 * its page tables or extended state. */
void sched_remove(struct domain *d);
/* Makes a blocked vCPU runnable (an event arrived, or its timeout passed); nothing if it is not
 * blocked. Returns 0, so that an event's delivery can end in a jump here. */
long sched_wake(struct vcpu *v);
/* sched_notify with other CPUs running guests: v is woken if blocked, else the CPU running it
 * (if any) is interrupted. Returns 0. */
long sched_notify_smp(struct vcpu *v);
/*
 * An upcall is pending for v: wakes it if blocked, or interrupts the CPU it runs on (an IPI),
 * which enters the hypervisor and delivers the upcall on its way out. With one CPU a vCPU that is
 * not blocked needs nothing (running, it gets its upcall at its way out; queued, when it runs):
 * sched_wake, which tests the state first, is then all there is to do. Returns 0, so that a send
 * can end in a jump here (set_pending, event_channel.c).
 */
static inline long sched_notify(struct vcpu *v)
{
    if (hv_lock_smp)
        return sched_notify_smp(v);
    return sched_wake(v);
}
/* CPU time counted in cycles (struct domain's cpu_time_cycles) in nanoseconds. */
uint64_t sched_cycles_to_ns(uint64_t cycles);
/* device_ports_open_cpus changed: the plain switch's global test follows (device.c calls it). */
void sched_plain_ports(void);
/* d's devices, weight, pause or park changed: recomputes d->switch_plain from them (every
 * writer of one of those calls it after the write). */
void sched_plain_update(struct domain *d);
/* Picks the next domain, delivers its pending upcall, and enters it; idles when none can run. */
noreturn void exit_to_guest(void);
/* exit_to_guest without its test for the common case, for a caller that knows work is pending
 * (the syscall fast path, syscall.S): the scheduler decides, then the guest runs. With one CPU a
 * yield or block is switched there plainly (no frame). cpu is this CPU (this_cpu()): the fast
 * path loads it into the first argument register in place of clearing that one. */
noreturn void exit_to_guest_resched(struct percpu *cpu);
/* The same without the plain switch's test, for the C path's hypercall exit (hypercall_entry),
 * which runs only where the plain switch never applies (several CPUs, partitions, the debug
 * build). */
noreturn void exit_to_guest_general(void);
/* The vCPU this CPU runs (in a hypercall: the caller; NULL while idle), and, for hypercall
 * handlers only (a guest called: never idle), the caller's domain. */
/* v may run: up and not blocked, its domain neither paused nor parked by its cap (sched.c and
 * sched_partition.c both ask). */
static inline bool sched_runnable(const struct vcpu *v)
{
    return v->state == VCPU_RUNNABLE && !v->domain->paused && !v->domain->share.parked;
}

static inline struct vcpu *current_vcpu(void) { return this_cpu()->current; }
static inline struct domain *current_domain(void) { return this_cpu_current()->domain; }
/* Is addr inside d's RAM (an entry point or callback it names)? */
bool guest_code_address(const struct domain *d, uint64_t addr);

/* The current vCPU v blocks (SCHEDOP_block, a poll's sleep): it leaves through exit_to_guest(),
 * which picks another. Inline: both are on the ping-pongs' way to the switch. */
static inline void sched_block_current(struct vcpu *v)
{
    /* Runnable becomes blocked, and a vCPU taken down by another while this hypercall waited for
     * the lock (deschedule leaves a CPU in a hypercall alone) stays down: blocking it would let
     * the next event revive it. Clearing the runnable bit does both with the one instruction a
     * store of VCPU_BLOCKED takes (moat/domain.h). */
    v->state &= ~VCPU_RUNNABLE_BIT;
    this_cpu()->need_resched |= RESCHED_SWITCH;
}

/*
 * The current vCPU v sleeps polling, without a timeout: any event of its domain wakes it
 * (sched_wake). SCHEDOP_send_poll's sleep (event_channel.c), and SCHEDOP_poll's before it arms its
 * timeout (sched.c). Inline, so that the send that follows it is SCHEDOP_send_poll's last call
 * (a jump: that hypercall needs no stack frame). Returns 0.
 */
static inline long sched_poll_sleep(struct vcpu *v)
{
    _Static_assert(MOAT_MAX_VCPUS <= 8, "poll_mask has a bit for each vCPU");
    v->polling = true;
    v->domain->poll_mask |= (uint8_t)(1u << v->vcpu_id);
    v->poll_deadline_ns = 0;
    sched_block_current(v);
    return 0;
}
long do_sched_op(uint64_t cmd, uint64_t arg, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_timer_op(uint64_t deadline_ns, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_set_callbacks(uint64_t entry, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
long do_iret(uint64_t frame, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

#endif
