// SPDX-License-Identifier: MIT
// Spins forever without a single hypercall after its first line: only timer preemption lets
// anything else run. Tests destroy it through domctl (expect = "any"). `yield=1`: yields in a
// loop instead, so that whoever is queued after it is switched in by a yield (the scheduler's
// plain switch) rather than by a tick.
#include <moat/guest.h>

static volatile uint64_t spins;

int main(const struct start_info *si)
{
    printf("spinner %u up\n", si->domid);
    console_flush();
    if (cmdline_ulong("yield", 0))
        for (;;)
            sched_yield();
    for (;;)
        spins++;
}
