/* SPDX-License-Identifier: MIT */
/*
 * A ticket spinlock for the vCPUs of one domain: fair (first come, first served) and with one
 * atomic add to take it. Waiters spin with `pause`, reading only. The hypervisor may deschedule
 * any vCPU, the holder or the waiter whose turn is next: a waiter that has spun SPIN_YIELD_AFTER
 * times gives its CPU away (SCHEDOP_yield), so that the vCPU the lock waits for gets to run.
 * Without that, vCPUs sharing fewer CPUs spin away whole time slices at every hand-over. Hold
 * locks briefly and never across a blocking hypercall. Not for use from an upcall handler on a lock its own
 * vCPU may hold (mask upcalls around such a critical section: evtchn_upcalls_mask).
 */
#ifndef MOAT_GUEST_SPINLOCK_H
#define MOAT_GUEST_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <moat/hypercall.h>

#define SPIN_YIELD_AFTER 1024

typedef struct {
    uint32_t next;  /* the ticket the next arrival takes */
    uint32_t owner; /* the ticket allowed in */
} spinlock_t;

#define SPINLOCK_INIT {0, 0}

static inline void spin_lock(spinlock_t *l)
{
    uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    for (unsigned spins = 0; __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket; spins++) {
        __asm__ volatile("pause" ::: "memory");
        if (spins >= SPIN_YIELD_AFTER) {
            sched_yield();
            spins = 0;
        }
    }
}

static inline bool spin_trylock(spinlock_t *l)
{
    uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    uint32_t expect = owner;
    return __atomic_compare_exchange_n(&l->next, &expect, owner + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void spin_unlock(spinlock_t *l)
{
    /* Only the holder writes owner: a plain increment, published with release. */
    __atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

#endif
