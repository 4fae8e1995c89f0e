/* SPDX-License-Identifier: MIT */
/*
 * Ticket spinlocks: each CPU takes a ticket and waits for its turn, so waiters are served in
 * order and none starves. The hypervisor runs with interrupts off except in the idle loop, so a
 * lock taken outside an interrupt handler needs no interrupt masking; a lock that an interrupt
 * handler also takes must be taken with interrupts off (spin_lock_irqsave).
 *
 * The lock's holder (a CPU index, or SPIN_NO_OWNER) is recorded for diagnostics and for the
 * console, which a CPU reporting a fatal fault may need while it holds it. It is stored plus one
 * so that a free lock is all zeros: every lock lives in .bss, and nothing in the loaded image
 * (which the measured launch hashes as the file it came from) changes when a lock is taken.
 */
#ifndef MOAT_SPINLOCK_H
#define MOAT_SPINLOCK_H

#include <moat/cpu.h>
#include <moat/types.h>
#include <moat/x86.h> /* cpu_relax, irq_save, irq_restore */

#define SPIN_NO_OWNER 0xffffu

typedef struct {
    uint16_t next;  /* the next ticket to hand out */
    uint16_t owner; /* the ticket being served */
    uint16_t cpu;   /* who holds it, plus one; 0 = nobody */
} spinlock_t;

#define SPINLOCK_INIT {0, 0, 0}

static inline void spin_init(spinlock_t *l) { *l = (spinlock_t)SPINLOCK_INIT; }

/* The two halves of taking a lock, for a waiter that has something to do while it waits. */
static inline uint16_t spin_take_ticket(spinlock_t *l) { return __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED); }
static inline bool spin_my_turn(const spinlock_t *l, uint16_t ticket)
{
    return __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) == ticket;
}

static inline void spin_lock_as(spinlock_t *l, unsigned cpu)
{
    uint16_t ticket = spin_take_ticket(l);
    while (!spin_my_turn(l, ticket))
        cpu_relax();
    l->cpu = (uint16_t)(cpu + 1);
}

/* Takes the lock only if nobody holds or waits for it. */
static inline bool spin_trylock_as(spinlock_t *l, unsigned cpu)
{
    uint16_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    uint16_t expect = owner;
    if (!__atomic_compare_exchange_n(&l->next, &expect, (uint16_t)(owner + 1), false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return false;
    l->cpu = (uint16_t)(cpu + 1);
    return true;
}

static inline void spin_unlock(spinlock_t *l)
{
    l->cpu = 0;
    /* Only the holder writes owner: a plain increment, published with release order. */
    __atomic_store_n(&l->owner, (uint16_t)(l->owner + 1), __ATOMIC_RELEASE);
}

/* The CPU holding the lock, or SPIN_NO_OWNER. */
static inline unsigned spin_holder(const spinlock_t *l)
{
    uint16_t c = __atomic_load_n(&l->cpu, __ATOMIC_RELAXED);
    return c ? c - 1u : SPIN_NO_OWNER;
}

static inline bool spin_is_locked(const spinlock_t *l)
{
    return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) != __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}

/* The usual forms, on behalf of this CPU. */
static inline void spin_lock(spinlock_t *l) { spin_lock_as(l, this_cpu()->id); }
static inline bool spin_trylock(spinlock_t *l) { return spin_trylock_as(l, this_cpu()->id); }

/* For locks an interrupt handler also takes: interrupts off while held, then as they were. */
static inline uint64_t spin_lock_irqsave_as(spinlock_t *l, unsigned cpu)
{
    uint64_t flags = irq_save();
    spin_lock_as(l, cpu);
    return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *l, uint64_t flags)
{
    spin_unlock(l);
    irq_restore(flags);
}

static inline uint64_t spin_lock_irqsave(spinlock_t *l) { return spin_lock_irqsave_as(l, this_cpu()->id); }

#endif
