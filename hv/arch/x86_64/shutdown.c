// SPDX-License-Identifier: MIT
// Stopping the machine: isa-debug-exit tells the host the status (docs/CONTRACTS.md); without
// that device we halt with interrupts off, which a human or a timeout sees.
#include <moat/console.h>
#include <moat/shutdown.h>
#include <moat/smp.h>
#include <moat/x86.h>

#define DEBUG_EXIT_PORT 0xf4

noreturn void machine_stop(enum stop_status status)
{
    cli();
    smp_stop_others();
    printk("moat: stop: %s\n", status == STOP_SUCCESS ? "success" : "failure");
    outb(DEBUG_EXIT_PORT, (uint8_t)status);
    for (;;)
        halt();
}

noreturn void panic(const char *fmt, ...)
{
    va_list ap;
    cli();
    printk("*** PANIC: ");
    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
    printk("\n");
    machine_stop(STOP_FAILURE);
}
