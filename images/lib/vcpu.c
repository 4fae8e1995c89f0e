// SPDX-License-Identifier: MIT
// Starting secondary vCPUs (moat/vcpu.h): a stack each, VCPUOP_initialise and VCPUOP_up.
#include <moat/evtchn.h>
#include <moat/guest.h>
#include <moat/spinlock.h>
#include <moat/upcall.h>
#include <moat/vcpu.h>

extern uintptr_t vcpu_stack_lo[MOAT_MAX_VCPUS], vcpu_stack_hi[MOAT_MAX_VCPUS];

static uint8_t stacks[MOAT_MAX_VCPUS - 1][VCPU_STACK_SIZE] __attribute__((aligned(64)));

// Which vCPU each port is bound to, for the event-channel dispatcher (evtchn.c, where guests
// that start no vCPU see no table at all).
extern uint8_t evtchn_port_vcpu[EVTCHN_LIB_PORTS];
uint8_t evtchn_port_vcpu[EVTCHN_LIB_PORTS];
static void (*entry_fn[MOAT_MAX_VCPUS])(unsigned id);

// The event-channel dispatcher of a guest that starts vCPUs: each vCPU's upcall takes only the
// ports bound to it (evtchn_port_vcpu). It replaces evtchn.c's weak one, which takes every port
// as vCPU 0's: which one runs is decided when the guest is linked (with this file or without).
void evtchn_dispatch_vcpus(void);
void evtchn_upcall_handler(struct upcall_frame *frame)
{
    (void)frame;
    evtchn_dispatch_vcpus();
}

// The hypervisor enters vcpu_entry with rsp = the stack's top (16-byte aligned) and rdi = id: the
// call leaves rsp as the ABI wants at vcpu_main's entry.
void vcpu_entry(void);
__attribute__((noreturn, used)) void vcpu_main(unsigned id);
__asm__(".text\n"
        ".globl vcpu_entry\n"
        ".type vcpu_entry, @function\n"
        "vcpu_entry:\n"
        "    xor %ebp, %ebp\n"
        "    call vcpu_main\n"
        "    ud2\n"
        ".size vcpu_entry, . - vcpu_entry\n");

void vcpu_main(unsigned id)
{
    evtchn_upcalls_restore(0); // our own upcalls on (each vCPU's start masked)
    entry_fn[id](id);
    for (;;)
        vcpu_down(id);
}

long vcpu_start(unsigned id, void (*fn)(unsigned id))
{
    if (id == 0 || id >= MOAT_MAX_VCPUS)
        return -XEN_EINVAL;
    uintptr_t lo = (uintptr_t)stacks[id - 1], hi = lo + VCPU_STACK_SIZE;
    entry_fn[id] = fn;
    vcpu_stack_lo[id] = lo;
    vcpu_stack_hi[id] = hi;
    if (vcpu_stacks_n < id + 1)
        __atomic_store_n(&vcpu_stacks_n, id + 1, __ATOMIC_RELEASE);
    struct vcpu_guest_context ctx = {
        .rip = (uintptr_t)vcpu_entry,
        .rsp = hi,
        .rdi = id,
        .callback_rip = upcall_entry_form(evtchn_upcall_entry, evtchn_upcall_entry_fx),
    };
    // The lock's kick ports (moat/spinlock.h), vCPU 0's with the first vCPU started. Without one
    // a vCPU's lock waits yield instead of sleeping: a failure here is no failure to start.
    (void)spin_kick_bind(0);
    (void)spin_kick_bind(id);
    long rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, id, &ctx);
    if (rc)
        return rc;
    return HYPERVISOR_vcpu_op(VCPUOP_up, id, NULL);
}

long vcpu_is_up(unsigned id) { return HYPERVISOR_vcpu_op(VCPUOP_is_up, id, NULL); }

long vcpu_down(unsigned id) { return HYPERVISOR_vcpu_op(VCPUOP_down, id, NULL); }
