// SPDX-License-Identifier: MIT
// Entries from ring 3 other than syscall: interrupts (the tick) and guest exceptions. A guest's
// exception is the guest's problem: that domain is killed with a crash record, and the others go on.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/device.h>
#include <moat/domain.h>
#include <moat/hvlock.h>
#include <moat/sched.h>
#include <moat/selftest.h>
#include <moat/timer.h>
#include <moat/x86.h>

/* The port an I/O instruction at rip uses (in/out with imm8 or dx, and ins/outs), or -1. */
static int io_port(const struct cpu_regs *regs)
{
    uint8_t code[4];
    if (copy_from_guest(code, regs->rip, sizeof(code)))
        return -1;
    unsigned i = 0;
    while (i < 3 && (code[i] == 0x66 || code[i] == 0xf3 || code[i] == 0xf2))
        i++;
    uint8_t op = code[i];
    if (op >= 0xe4 && op <= 0xe7)
        return code[i + 1];
    if ((op >= 0xec && op <= 0xef) || (op >= 0x6c && op <= 0x6f))
        return (int)(regs->rdx & 0xffff);
    return -1;
}

/* Kills the current domain for an exception it took, with the structured crash line
 * (docs/CONTRACTS.md); an access to a device it does not hold is audited first. */
static void guest_fault(struct domain *d, const struct cpu_regs *regs, uint64_t cr2)
{
    char sym[64];
    domain_symbolize(d, regs->rip, sym, sizeof(sym));
    if (regs->vector != 14)
        cr2 = 0; /* only a page fault sets it; anything else there would be stale */
    device_audit_fault(d, cr2, regs->vector == 13 ? io_port(regs) : -1);
    printk("domain %u '%s' crashed: vector=%lu #%s rip=0x%lx cr2=0x%lx err=0x%lx%s%s%s\n", d->domid, d->name,
           regs->vector, exception_mnemonic((unsigned)regs->vector), regs->rip, cr2, regs->error_code,
           sym[0] ? " [" : "", sym, sym[0] ? "]" : "");
    domain_destroy(d, OUTCOME_KILLED, "fault");
}

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
        if (current_vcpu() && &current_vcpu()->regs == regs)
            guest_fault(current_domain(), regs, cr2);
    }
    exit_to_guest();
}
