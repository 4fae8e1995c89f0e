// SPDX-License-Identifier: MIT
// The hypervisor lock and the debug build's lock-order checks (moat/hvlock.h).
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/hvlock.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/spinlock.h>

bool hv_lock_smp;          /* .bss: false until hv_lock_start finds a second CPU */
static spinlock_t hv_lock; /* SPINLOCK_INIT is all zeros: in .bss */

void hv_lock_start(void) { hv_lock_smp = smp_cpus_online() > 1; }

/*
 * A waiter spins a little, then halts with interrupts on until the releaser's IPI (or its own
 * tick): on a host that runs more virtual CPUs than it has cores, a spinning waiter would take
 * the core the lock's holder needs. Interrupt handlers take no lock, so they may run here.
 *
 * Only a waiter that halts is sent the wake-up IPI. A spinning waiter waits with interrupts off,
 * so an IPI sent to it stays pending until it returns to its guest, and interrupts the guest at
 * once: back in the hypervisor, that CPU waits for the lock again, and on its release sends the
 * next such IPI to the other CPU, which has just done the same. Two CPUs then pass the lock back
 * and forth on IPIs alone and neither guest runs an instruction until a tick breaks the pattern
 * (the mapper of gnt_revoke_remote missed the relabel it watched for this way).
 *
 * The halting flag and the turn form a Dekker pair: the waiter sets the flag, then reads the
 * turn; the releaser moves the turn, then reads the flag. Each side's store is followed by a
 * full fence before its load, so at least one of them sees the other's store: either the waiter
 * sees its turn and does not halt, or the releaser sees the flag and wakes it. The turn is
 * checked with interrupts off just before `sti; hlt`, so the IPI cannot be lost.
 */
#define HV_LOCK_SPINS 256

void hv_lock_enter_slow(void)
{
    struct percpu *cpu = this_cpu();
    uint16_t ticket = spin_take_ticket(&hv_lock);
    cpu->hv_lock_taken++;
    if (!spin_my_turn(&hv_lock, ticket)) {
        uint64_t t0 = arch_cycles();
        cpu->hv_lock_contended++;
        cpu->hv_lock_ticket = ticket;
        /* The holder may be waiting for this CPU (a TLB shootdown, an eviction): answer it. */
        for (unsigned spins = 0; !spin_my_turn(&hv_lock, ticket); spins++) {
            smp_poll_calls();
            if (spins < HV_LOCK_SPINS) {
                cpu_relax();
                continue;
            }
            cpu->hv_lock_halts++;
            __atomic_store_n(&cpu->hv_lock_halted, true, __ATOMIC_SEQ_CST);
            if (!spin_my_turn(&hv_lock, ticket)) {
                sti_halt();
                cli();
            }
            __atomic_store_n(&cpu->hv_lock_halted, false, __ATOMIC_RELAXED);
        }
        cpu->hv_lock_wait_tsc += arch_cycles() - t0;
    }
    hv_lock.cpu = (uint16_t)(cpu->id + 1);
}

bool hv_lock_enter_hypercall(const struct cpu_regs *regs)
{
    struct percpu *cpu = this_cpu();
    cpu->in_hypercall = true;
    hv_lock_enter_slow();
    return cpu->current && &cpu->current->regs == regs;
}

void hv_lock_exit_slow(void)
{
    struct percpu *me = this_cpu();
    me->in_hypercall = false;
    uint16_t next = (uint16_t)(hv_lock.owner + 1);
    bool waiters = __atomic_load_n(&hv_lock.next, __ATOMIC_RELAXED) != next;
    spin_unlock(&hv_lock);
    if (!waiters)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the turn is visible before the flags are read */
    /* Wake the CPU whose turn it is if it halted (see above: never one that spins). */
    for (unsigned i = 0; i < smp_cpus_listed(); i++) {
        const struct percpu *p = &percpus[i];
        if (__atomic_load_n(&p->hv_lock_halted, __ATOMIC_SEQ_CST) && p->hv_lock_ticket == next) {
            me->hv_lock_kicks++;
            arch_kick_cpu(p);
            return;
        }
    }
}

void hv_lock_report(void)
{
    if (!hv_lock_smp)
        return;
    uint64_t taken = 0, contended = 0, wait = 0, halts = 0, kicks = 0;
    for (unsigned i = 0; i < MOAT_MAX_CPUS; i++) {
        taken += percpus[i].hv_lock_taken;
        contended += percpus[i].hv_lock_contended;
        wait += percpus[i].hv_lock_wait_tsc;
        halts += percpus[i].hv_lock_halts;
        kicks += percpus[i].hv_lock_kicks;
    }
    printk("hvlock: taken=%lu contended=%lu waited=%lu tsc ticks (%lu per contended entry); halted=%lu woken=%lu\n",
           taken, contended, wait, contended ? wait / contended : 0, halts, kicks);
}

#ifdef CONFIG_LOCK_CHECK
static const char *const rank_names[LOCK_RANKS] = {"the hypervisor lock", "the call lock"};

void lock_check_acquire(enum lock_rank rank)
{
    struct percpu *cpu = this_cpu();
    uint32_t at_or_above = cpu->locks_held & ~((1u << rank) - 1);
    if (at_or_above) {
        unsigned held = (unsigned)__builtin_ctz(at_or_above);
        panic("lock order: cpu %u takes %s while it holds %s", cpu->id, rank_names[rank], rank_names[held]);
    }
    cpu->locks_held |= 1u << rank;
}

void lock_check_release(enum lock_rank rank)
{
    struct percpu *cpu = this_cpu();
    if (!(cpu->locks_held & (1u << rank)))
        panic("lock order: cpu %u releases %s, which it does not hold", cpu->id, rank_names[rank]);
    cpu->locks_held &= ~(1u << rank);
}

void lock_check_none_held(const char *where)
{
    struct percpu *cpu = this_cpu();
    if (cpu->locks_held)
        panic("lock order: cpu %u %s while it holds %s", cpu->id, where,
              rank_names[__builtin_ctz(cpu->locks_held)]);
}
#endif
