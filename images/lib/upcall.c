// SPDX-License-Identifier: MIT
// The default upcall handler and the hook to register the assembly entry point.
#include <moat/guest.h>
#include <moat/upcall.h>
#include <moat/vcpu.h>

_Static_assert(__HYPERVISOR_iret == 23, "upcall_entry.S loads the iret hypercall's number as 23");

__attribute__((weak)) void upcall_handler(struct upcall_frame *frame)
{
    (void)frame;
    // Acknowledge: without this the hypervisor would see the upcall as still pending.
    __atomic_store_n(&shared_info->vcpu_info[vcpu_self()].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
}

/* For upcall_entry.S: the vcpu_info whose mask it clears on the way back (the caller's vCPU). */
struct vcpu_info *upcall_vcpu_info(void);
struct vcpu_info *upcall_vcpu_info(void) { return &shared_info->vcpu_info[vcpu_self()]; }

long upcall_install(void)
{
    return HYPERVISOR_set_callbacks((unsigned long)upcall_entry, 0);
}

void upcall_iret_failed(void);
void upcall_iret_failed(void)
{
    panic("iret from the upcall frame failed");
}
