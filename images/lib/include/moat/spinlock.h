/* SPDX-License-Identifier: MIT */
/*
 * A ticket spinlock for the vCPUs of one domain: fair (first come, first served) and with one
 * atomic add to take it. Waiters spin with `pause`, reading only. The hypervisor may deschedule
 * any vCPU, and so may the host the CPU a vCPU runs on: a waiter that has spun SPIN_POLL_AFTER
 * times sleeps instead (spin_lock_slow), as Xen's PV spinlocks do: it says which lock and ticket
 * it waits for and polls its own kick port (SCHEDOP_poll), and the unlocker kicks the waiter whose
 * ticket comes next (spin_kick). A sleeping vCPU leaves its CPU, and the host core under it, to the
 * holder; a `SCHEDOP_yield` instead does nothing on a CPU that runs no other vCPU, and the waiter
 * spins on. The kick ports are bound by vcpu_start; until then (one vCPU) waiters yield. Hold
 * locks briefly and never across a blocking hypercall. Not for use from an upcall handler on a
 * lock its own vCPU may hold (mask upcalls around such a critical section: evtchn_upcalls_mask).
 */
#ifndef MOAT_GUEST_SPINLOCK_H
#define MOAT_GUEST_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <moat/hypercall.h>
#include <moat/vcpu.h>

#define SPIN_POLL_AFTER 128

typedef struct {
    uint32_t next;  /* the ticket the next arrival takes */
    uint32_t owner; /* the ticket allowed in */
} spinlock_t;

#define SPINLOCK_INIT {0, 0}

/* The waits that sleep, and the kicks that end them (images/lib/spinlock.c). */
void spin_lock_slow(spinlock_t *l, uint32_t ticket);
void spin_kick(const spinlock_t *l, uint32_t ticket);
/* Binds vCPU id's kick port (vcpu_start does, for the vCPU it starts and for vCPU 0). */
long spin_kick_bind(unsigned id);

static inline void spin_lock(spinlock_t *l)
{
    uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    for (unsigned spins = 0; __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != ticket; spins++) {
        __asm__ volatile("pause" ::: "memory");
        if (spins >= SPIN_POLL_AFTER) {
            spin_lock_slow(l, ticket);
            return;
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
    uint32_t next = l->owner + 1;
    __atomic_store_n(&l->owner, next, __ATOMIC_RELEASE);
    /* A guest that started no vCPU has no one to kick. */
    if (__atomic_load_n(&vcpu_stacks_n, __ATOMIC_RELAXED))
        spin_kick(l, next);
}

#endif
