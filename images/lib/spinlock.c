// SPDX-License-Identifier: MIT
// The sleeping half of the ticket lock (moat/spinlock.h), after Xen's PV spinlocks: a waiter that
// has spun long enough records the lock and ticket it waits for and polls its own kick port (an
// IPI port of its vCPU, masked: it only ends polls); the unlocker kicks the waiter whose ticket is
// next. Sleeping hands the CPU (and under QEMU the host core) to the vCPU that holds the lock.
#include <moat/evtchn.h>
#include <moat/spinlock.h>
#include <stddef.h>

// What each vCPU sleeps for: lock is NULL while it does not. Written by that vCPU only.
static struct {
    const spinlock_t *lock;
    uint32_t ticket;
} waiting[MOAT_MAX_VCPUS];
static evtchn_port_t kick_port[MOAT_MAX_VCPUS];

long spin_kick_bind(unsigned id)
{
    if (id >= MOAT_MAX_VCPUS)
        return -XEN_EINVAL;
    if (__atomic_load_n(&kick_port[id], __ATOMIC_ACQUIRE))
        return 0;
    long p = evtchn_bind_ipi(id);
    if (p <= 0)
        return p; // no port: that vCPU's waiters yield instead
    evtchn_port_mask((evtchn_port_t)p); // never an upcall: the port only ends polls
    __atomic_store_n(&kick_port[id], (evtchn_port_t)p, __ATOMIC_RELEASE);
    return 0;
}

void spin_lock_slow(spinlock_t *l, uint32_t ticket)
{
    unsigned me = vcpu_self();
    evtchn_port_t port = __atomic_load_n(&kick_port[me], __ATOMIC_ACQUIRE);
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket) {
        if (!port) {
            // No kick port: give the CPU away, then spin again.
            sched_yield();
            for (unsigned spins = 0; spins < SPIN_POLL_AFTER; spins++) {
                if (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) == ticket)
                    return;
                __asm__ volatile("pause" ::: "memory");
            }
            continue;
        }
        // A kick left from an earlier wait is cleared before we say what we wait for: a kick
        // for this wait comes after the unlocker saw that, so it stays pending for the poll.
        evtchn_port_clear(port);
        __atomic_store_n(&waiting[me].ticket, ticket, __ATOMIC_RELAXED);
        __atomic_store_n(&waiting[me].lock, l, __ATOMIC_RELAXED);
        // Against spin_kick's fence: either the unlocker sees us waiting, or we see its owner.
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != ticket)
            sched_poll(&port, 1, 0); // any event of the domain wakes us too: the loop looks again
        __atomic_store_n(&waiting[me].lock, NULL, __ATOMIC_RELAXED);
    }
}

void spin_kick(const spinlock_t *l, uint32_t ticket)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    unsigned n = __atomic_load_n(&vcpu_stacks_n, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n && i < MOAT_MAX_VCPUS; i++) {
        if (__atomic_load_n(&waiting[i].lock, __ATOMIC_RELAXED) == l &&
            __atomic_load_n(&waiting[i].ticket, __ATOMIC_RELAXED) == ticket) {
            evtchn_send(__atomic_load_n(&kick_port[i], __ATOMIC_RELAXED));
            return; // tickets are unique: one waiter holds this one
        }
    }
}
