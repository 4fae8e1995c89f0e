// SPDX-License-Identifier: MIT
// Event upcalls on x86-64: the interrupted context goes onto the guest stack as a struct
// upcall_frame (public/hv.h) when an upcall is delivered, and comes back from it by the iret
// hypercall. When to deliver, and the event mask, are core/sched.c's.
#include <moat/arch.h>
#include <moat/domain.h>
#include <public/hv.h>

bool arch_upcall_push(struct vcpu *v, uint64_t callback)
{
    struct cpu_regs *r = &v->regs;
    struct upcall_frame f = {
        .r15 = r->r15, .r14 = r->r14, .r13 = r->r13, .r12 = r->r12, .r11 = r->r11, .r10 = r->r10,
        .r9 = r->r9,   .r8 = r->r8,   .rbp = r->rbp, .rdi = r->rdi, .rsi = r->rsi, .rdx = r->rdx,
        .rcx = r->rcx, .rbx = r->rbx, .rax = r->rax, .rip = r->rip, .rflags = r->rflags, .rsp = r->rsp,
    };
    uint64_t sp = ((r->rsp - 128 - sizeof(f)) & ~15ULL); /* below the guest's red zone */
    if (r->rsp < 256 || copy_to_guest(sp, &f, sizeof(f)))
        return false;
    r->rip = callback;
    r->rsp = sp;
    r->rdi = sp;
    return true;
}

long arch_upcall_pop(struct vcpu *v, uint64_t frame, long *ret)
{
    struct upcall_frame f;
    if (copy_from_guest(&f, frame, sizeof(f)))
        return -XEN_EFAULT;
    /* Whatever the frame says, the guest stays in ring 3 at a canonical user address. */
    if (f.rip >= GUEST_VA_LIMIT || f.rsp >= GUEST_VA_LIMIT)
        return -XEN_EINVAL;
    struct cpu_regs *r = &v->regs;
    r->r15 = f.r15, r->r14 = f.r14, r->r13 = f.r13, r->r12 = f.r12, r->r11 = f.r11, r->r10 = f.r10;
    r->r9 = f.r9, r->r8 = f.r8, r->rbp = f.rbp, r->rdi = f.rdi, r->rsi = f.rsi, r->rdx = f.rdx;
    r->rcx = f.rcx, r->rbx = f.rbx, r->rax = f.rax, r->rip = f.rip, r->rsp = f.rsp;
    r->rflags = (f.rflags & 0xcd5) | RFLAGS_IF | 2;
    r->vector = VEC_TIMER; /* return by iret: rcx and r11 must come back exactly */
    *ret = (long)f.rax; /* hypercall_entry writes the result into rax: unchanged */
    return 0;
}
