/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor lock and the lock order (docs/hypervisor.md, "Concurrency").
 *
 * Guests run on every CPU at once; the hypervisor's own state is guarded by one lock, taken on
 * every entry from a guest (hypercall, exception, interrupt) and by an idle CPU that wakes, and
 * released on the way back to a guest or into the idle halt. Interrupt handlers take no lock:
 * they only touch their own CPU's percpu and the smp_call mailbox.
 *
 * While only one CPU is online the lock is not taken at all (no other CPU could contend); the
 * choice is made once, before the first domain runs. The debug build (moat-selftest) tracks the
 * ranks each CPU holds whatever the number of CPUs: a lock taken out of order, or any lock still
 * held on the way back to a guest, stops the machine with a line that says which.
 */
#ifndef MOAT_HVLOCK_H
#define MOAT_HVLOCK_H

#include <moat/cpu.h>
#include <moat/types.h>

/* A CPU takes locks in increasing rank only. The console's lock is a leaf below all of them:
 * printk takes nothing else and never returns with it held, so it is not tracked here. */
enum lock_rank {
    LOCK_HV = 0,   /* the hypervisor lock */
    LOCK_CALL = 1, /* smp_call's mailbox (taken only by the hypervisor lock's holder, or at boot) */
    LOCK_RANKS
};

#ifdef CONFIG_SELFTEST
#define CONFIG_LOCK_CHECK 1
void lock_check_acquire(enum lock_rank rank);
void lock_check_release(enum lock_rank rank);
/* Stops the machine if this CPU holds any lock (where: what it is about to do). */
void lock_check_none_held(const char *where);
#else
static inline void lock_check_acquire(enum lock_rank rank) { (void)rank; }
static inline void lock_check_release(enum lock_rank rank) { (void)rank; }
static inline void lock_check_none_held(const char *where) { (void)where; }
#endif

extern bool hv_lock_smp; /* more than one CPU runs guests: the lock is really taken */
void hv_lock_enter_slow(void);
void hv_lock_exit_slow(void);

/* Takes the hypervisor lock; while waiting, runs what the holder asks of this CPU (smp_call). */
static inline void hv_lock_enter(void)
{
    lock_check_acquire(LOCK_HV);
    if (hv_lock_smp)
        hv_lock_enter_slow();
}

static inline void hv_lock_exit(void)
{
    if (hv_lock_smp)
        hv_lock_exit_slow();
    lock_check_release(LOCK_HV);
}

/*
 * The hypercall entry's form (with more than one CPU; the caller did the rank check): marks this
 * CPU as inside a hypercall (its frame is not resumable), takes the lock, and answers whether
 * the caller is still this CPU's current domain (another CPU may have destroyed it meanwhile).
 */
bool hv_lock_enter_hypercall(const struct cpu_regs *regs);

/* Boot CPU, once, before the first domain runs: from here on the lock is taken if CPUs > 1. */
void hv_lock_start(void);
/* `hvlock: ...` figures at stop: how often the lock was taken, contended, and the time waited. */
void hv_lock_report(void);

#endif
