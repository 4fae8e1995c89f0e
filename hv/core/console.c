// SPDX-License-Identifier: MIT
// The hypervisor console (printk) on top of the serial port. One lock keeps each printk's text
// together when several CPUs print; a CPU that faults while holding it (the fatal-exception
// report) or finds it held for too long by a CPU that will never let go, prints anyway.
#include <moat/arch.h>
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/lib.h>
#include <moat/spinlock.h>
#include <moat/timer.h>

static spinlock_t console_lock; /* SPINLOCK_INIT is all zeros: in .bss */
/* How long a CPU waits for another's printk: longer than the serial port's own wait for a
 * stalled console reader (serial_putc, 10 s), so a holder slowed by the reader keeps its line
 * whole; counted in spins only until the clock is calibrated. */
#define CONSOLE_LOCK_MS 12000u
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
    if (spin_trylock_as(&console_lock, cpu->id))
        return true; /* the usual case: no clock read for a lock nobody holds */
    uint64_t khz = tsc_khz();
    uint64_t deadline = khz ? arch_cycles() + CONSOLE_LOCK_MS * khz : 0;
    for (unsigned spins = 0; !spin_trylock_as(&console_lock, cpu->id); spins++) {
        if (khz ? arch_cycles() >= deadline : spins > CONSOLE_LOCK_SPINS)
            return false;
        cpu_relax();
    }
    return true;
}

/*
 * Deferred lines: audit records made inside an operation (a revocation under the hypervisor
 * lock) wait here and are formatted and printed later, so neither the formatting nor the serial
 * port's pace is part of the operation. Later is bounded, and nothing is dropped: the waiting
 * lines go out before any other console output (so the console's order stays the order things
 * happened in), when a CPU idles, and at once when the ring is full. The lock is held while
 * they are printed, so they keep their order across CPUs; a printk from inside (or from an
 * interrupt of) a holder skips the drain instead of waiting for itself.
 */
#define DEFERRED_LINES 64
struct deferred {
    void (*print)(const void *data);
    _Alignas(CONSOLE_DEFER_ALIGN) uint8_t data[CONSOLE_DEFER_MAX];
};
static struct deferred ring[DEFERRED_LINES];
static unsigned ring_head, ring_tail; /* free-running: head - tail lines wait */
static spinlock_t ring_lock;

static void drain_locked(void)
{
    while (ring_tail != ring_head) {
        const struct deferred *e = &ring[ring_tail % DEFERRED_LINES];
        e->print(e->data);
        __atomic_store_n(&ring_tail, ring_tail + 1, __ATOMIC_RELEASE);
    }
}

void *console_defer_begin(void (*print)(const void *data))
{
    /* this_cpu(), not this_cpu_careful(): records are deferred from hypercalls (and the boot's
     * policy load, after the per-CPU block is set up), never from an NMI or #MC that could find the
     * guest's GS loaded; the careful lookup costs two MSR reads on every audit record. */
    unsigned cpu = this_cpu()->id;
    spin_lock_as(&ring_lock, cpu);
    if (ring_head - ring_tail == DEFERRED_LINES)
        drain_locked(); /* full: print now rather than lose a line */
    struct deferred *e = &ring[ring_head % DEFERRED_LINES];
    e->print = print;
    return e->data;
}

void console_defer_end(void)
{
    __atomic_store_n(&ring_head, ring_head + 1, __ATOMIC_RELEASE);
    spin_unlock(&ring_lock);
}

void console_defer(void (*print)(const void *data), const void *data, size_t size)
{
    memcpy(console_defer_begin(print), data, MIN(size, (size_t)CONSOLE_DEFER_MAX));
    console_defer_end();
}

void console_drain(void)
{
    if (__atomic_load_n(&ring_head, __ATOMIC_ACQUIRE) == __atomic_load_n(&ring_tail, __ATOMIC_ACQUIRE))
        return;
    if (!spin_trylock_as(&ring_lock, this_cpu_careful()->id))
        return; /* being drained, by another CPU or by this one further up */
    drain_locked();
    spin_unlock(&ring_lock);
}

int vprintk(const char *fmt, va_list ap)
{
    console_drain();
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
