// SPDX-License-Identifier: MIT
// The default upcall handler and the hook to register the assembly entry point.
#include <moat/guest.h>
#include <moat/time.h>
#include <moat/upcall.h>
#include <moat/vcpu.h>
#include <moat/xstate.h>

_Static_assert(__HYPERVISOR_iret == 23, "upcall_entry.S loads the iret hypercall's number as 23");
_Static_assert(__builtin_offsetof(struct shared_info, vcpu_info) == 0,
               "upcall_entry.S takes vCPU 0's vcpu_info at the shared page's start");

__attribute__((weak)) void upcall_handler(struct upcall_frame *frame)
{
    (void)frame;
    // Acknowledge: without this the hypervisor would see the upcall as still pending.
    __atomic_store_n(&shared_info->vcpu_info[vcpu_self()].evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
}

/* For upcall_entry.S: the vcpu_info whose mask it clears on the way back (the caller's vCPU). */
struct vcpu_info *upcall_vcpu_info(void);
struct vcpu_info *upcall_vcpu_info(void) { return &shared_info->vcpu_info[vcpu_self()]; }

uintptr_t upcall_entry_form(void (*xsave_form)(void), void (*fx_form)(void))
{
    return (uintptr_t)(upcall_xstate_xsave ? xsave_form : fx_form);
}

long upcall_install(void)
{
    return HYPERVISOR_set_callbacks(upcall_entry_form(upcall_entry, upcall_entry_fx), 0);
}

void upcall_iret_failed(void);
void upcall_iret_failed(void)
{
    panic("iret from the upcall frame failed");
}

bool upcall_take_at(uint64_t rsp)
{
    volatile struct vcpu_info *vi = &shared_info->vcpu_info[vcpu_self()];
    vi->evtchn_upcall_mask = 1;
    if (HYPERVISOR_set_timer_op(now_ns()) != 0) /* already due: fires at once */
        return false;
    uint64_t deadline = now_ns() + 5 * NS_PER_SEC;
    while (!vi->evtchn_upcall_pending && now_ns() < deadline)
        HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
    if (!vi->evtchn_upcall_pending)
        return false;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %[rsp], %%rsp\n\t"
                     "movb $0, (%[mask])\n\t" /* evtchn_upcall_mask: the upcall is due from here */
                     "mov $%c[nr], %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "xor %%esi, %%esi\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp"
                     :
                     : [rsp] "r"(rsp), [mask] "r"(&vi->evtchn_upcall_mask), [nr] "i"(__HYPERVISOR_xen_version)
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "memory", "cc");
    return true;
}
