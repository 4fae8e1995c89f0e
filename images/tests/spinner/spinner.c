// SPDX-License-Identifier: MIT
// Spins forever without a single hypercall after its first line: only timer preemption lets
// anything else run. Tests destroy it through domctl (expect = "any").
#include <moat/guest.h>

static volatile uint64_t spins;

int main(const struct start_info *si)
{
    printf("spinner %u up\n", si->domid);
    console_flush();
    for (;;)
        spins++;
}
