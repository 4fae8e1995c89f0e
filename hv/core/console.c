// SPDX-License-Identifier: MIT
// The hypervisor console (printk) on top of the serial port. One lock keeps each printk's text
// together when several CPUs print; a CPU that faults while holding it (the fatal-exception
// report) or finds it held for too long by a CPU that will never let go, prints anyway.
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/spinlock.h>

static spinlock_t console_lock; /* SPINLOCK_INIT is all zeros: in .bss */
#define CONSOLE_LOCK_SPINS 50000000u

static void console_sink(void *ctx, char c)
{
    (void)ctx;
    if (c == '\n')
        serial_putc('\r');
    serial_putc(c);
}

/* True if the lock was taken (and must be released), false to print without it. */
static bool console_enter(void)
{
    struct percpu *cpu = this_cpu_careful();
    if (spin_holder(&console_lock) == cpu->id)
        return false; /* a fault while this CPU prints: the report goes out anyway */
    for (unsigned spins = 0; !spin_trylock_as(&console_lock, cpu->id); spins++) {
        if (spins > CONSOLE_LOCK_SPINS)
            return false;
        cpu_relax();
    }
    return true;
}

int vprintk(const char *fmt, va_list ap)
{
    bool locked = console_enter();
    int n = vformat(console_sink, NULL, fmt, ap);
    if (locked)
        spin_unlock(&console_lock);
    return n;
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}
