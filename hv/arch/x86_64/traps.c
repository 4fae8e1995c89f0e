// SPDX-License-Identifier: MIT
// Entries from ring 3 other than syscall: interrupts (the tick) and guest exceptions. A guest's
// exception is the guest's problem: that domain is killed with a crash record, and the others go on.
#include <moat/cpu.h>
#include <moat/domain.h>
#include <moat/hvlock.h>
#include <moat/sched.h>
#include <moat/selftest.h>
#include <moat/timer.h>
#include <moat/x86.h>

void guest_trap(struct cpu_regs *regs)
{
    uint64_t cr2 = read_cr2(); /* first: anything later could fault and overwrite it */
    selftest_entry_check(regs);
    if (regs->vector == 2 || regs->vector == 8 || regs->vector == 18)
        idt_fatal(regs); /* NMI, #DF, #MC: the machine's problem, not the guest's */
    if (regs->vector >= 32) {
        /* An interrupt: same handlers and EOI as in ring 0. They take no lock (moat/hvlock.h). */
        exception_dispatch(regs);
        hv_lock_enter();
    } else {
        hv_lock_enter();
        /* Another CPU may have destroyed the domain while this one waited: nothing left to kill. */
        if (this_cpu()->cur_regs == regs && current_domain())
            domain_crash_fault(current_domain(), regs, cr2);
    }
    exit_to_guest();
}
