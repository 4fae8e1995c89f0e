// SPDX-License-Identifier: MIT
// Spins forever without a single hypercall after its first line: only timer preemption lets
// anything else run. Tests destroy it through domctl (expect = "any"). `yield=1`: yields in a
// loop instead, so that whoever is queued after it is switched in by a yield (the scheduler's
// plain switch) rather than by a tick. `hypercalls=1`: makes hypercalls in a loop instead (xen_version,
// whose result never changes), and prints a Fail line if one returns anything else: a domain
// paused while its hypercall waits for the hypervisor lock on its CPU must still get that
// hypercall's result when it runs again (tests/smp/, sched_keep). `virq=N`: binds VIRQ N on
// vCPU 0 first (a port the domain never uses: only its binding in the event table matters).
#include <moat/evtchn.h>
#include <moat/guest.h>

static volatile uint64_t spins;

int main(const struct start_info *si)
{
    printf("spinner %u up\n", si->domid);
    console_flush();
    unsigned long virq = cmdline_ulong("virq", NR_VIRQS);
    if (virq < NR_VIRQS && evtchn_bind_virq((uint32_t)virq, 0) <= 0) {
        printf("Fail: binding VIRQ %lu failed\n", virq);
        console_flush();
    }
    if (cmdline_ulong("yield", 0))
        for (;;)
            sched_yield();
    if (cmdline_ulong("hypercalls", 0)) {
        long first = HYPERVISOR_xen_version(XENVER_version, NULL);
        for (;;) {
            long again = HYPERVISOR_xen_version(XENVER_version, NULL);
            if (again != first) {
                printf("Fail: xen_version returned %ld, then %ld\n", first, again);
                console_flush();
                first = again;
            }
        }
    }
    for (;;)
        spins++;
}
