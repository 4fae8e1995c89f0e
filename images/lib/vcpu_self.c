// SPDX-License-Identifier: MIT
// vcpu_self (moat/vcpu.h): which vCPU runs the caller, from the stack it runs on. Apart from
// vcpu.c (and its stacks) so that the event-channel library can ask without linking them.
#include <moat/vcpu.h>

// Filled by vcpu_start: the stack of each secondary vCPU; vcpu_stacks_n = highest started + 1
// (0 while none has been started).
uintptr_t vcpu_stack_lo[MOAT_MAX_VCPUS], vcpu_stack_hi[MOAT_MAX_VCPUS];
unsigned vcpu_stacks_n;

unsigned vcpu_self_slow(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    unsigned n = __atomic_load_n(&vcpu_stacks_n, __ATOMIC_ACQUIRE);
    for (unsigned i = 1; i < n; i++)
        if (sp >= vcpu_stack_lo[i] && sp < vcpu_stack_hi[i])
            return i;
    return 0; // vCPU 0 runs on the stack the hypervisor gave the domain
}
