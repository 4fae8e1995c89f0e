// SPDX-License-Identifier: MIT
// Event upcalls on x86-64: the interrupted context goes onto the guest stack as a struct
// upcall_frame (public/hv.h) when an upcall is delivered, and comes back from it by the iret
// hypercall. When to deliver, and the event mask, are core/sched.c's.
#include <moat/arch.h>
#include <moat/domain.h>
#include <moat/hypercall.h>
#include <public/hv.h>

/* The frame's general registers (r15 to rax) are laid out as struct cpu_regs' first ones. */
#define FRAME_GPRS 15
_Static_assert(__builtin_offsetof(struct upcall_frame, rax) == __builtin_offsetof(struct cpu_regs, rax) &&
                   __builtin_offsetof(struct upcall_frame, rip) == FRAME_GPRS * 8,
               "upcall_frame and cpu_regs share their first FRAME_GPRS words");

/* n 8-byte words from src to dst (no overlap): one counted step a word, where 15 assignments
 * compile to 30 moves. Every delivery and every iret copies the registers once. */
static inline void copy_words(void *dst, const void *src, size_t n)
{
    __asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

/* The frame onto the guest stack at dst, from the saved registers, then r enters the callback
 * (syscall.S); false, r unchanged, if a store faulted. */
bool upcall_frame_push(uint64_t dst, struct cpu_regs *r, uint64_t callback);
_Static_assert(__builtin_offsetof(struct cpu_regs, rdi) == 0x48, "upcall_frame_push sets the callback's rdi");
_Static_assert(__builtin_offsetof(struct upcall_frame, rip) == FRAME_GPRS * 8 &&
                   __builtin_offsetof(struct upcall_frame, rflags) == (FRAME_GPRS + 1) * 8 &&
                   __builtin_offsetof(struct upcall_frame, rsp) == (FRAME_GPRS + 2) * 8 &&
                   sizeof(struct upcall_frame) == (FRAME_GPRS + 3) * 8,
               "upcall_frame_push: 15 registers, then rip, rflags, rsp");

/*
 * The frame is written straight from the saved registers onto the guest stack (no copy on the
 * hypervisor stack first): every delivery writes the registers once. The range is the one
 * copy_to_guest would accept, tested with one compare: sp not 0 (sp - 1 wraps around to the top)
 * and the whole frame below GUEST_VA_LIMIT. An rsp too low for the frame (below 272) makes sp wrap
 * around to 2^64 - 272 or more, which the same compare refuses. Where the frame goes, and whether
 * that range may be tried at all: one test, for the push and for the report of a push that failed.
 */
static inline __attribute__((always_inline)) bool upcall_frame_at(const struct vcpu *v, uint64_t *sp)
{
    *sp = (v->regs.rsp - 128 - sizeof(struct upcall_frame)) & ~15ULL; /* below the guest's red zone */
    return *sp - 1 < GUEST_VA_LIMIT - sizeof(struct upcall_frame);
}

bool arch_upcall_push(struct vcpu *v)
{
    uint64_t sp;
    if (!upcall_frame_at(v, &sp))
        return false;
    /* a jump: this function needs no frame; the callback read here goes straight into its
     * argument register (read by the caller, it would be passed in another and moved) */
    return upcall_frame_push(sp, &v->regs, v->callback_rip);
}

bool arch_upcall_frame_in_range(const struct vcpu *v)
{
    uint64_t sp;
    return upcall_frame_at(v, &sp);
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
    copy_words(r, &f, FRAME_GPRS);
    r->rip = f.rip, r->rsp = f.rsp;
    r->rflags = (f.rflags & 0xcd5) | RFLAGS_IF | 2;
    r->vector = VEC_TIMER; /* return by iret: rcx and r11 must come back exactly */
    r->cs = SEL_UCODE | 3; /* (the fast syscall entry leaves a syscall frame's cs and ss unwritten) */
    r->ss = SEL_UDATA | 3;
    if (hypercall_fast) {
        struct percpu *cpu = this_cpu();
        /* not the syscall frame any more: no direct sysret (syscall.S clears the bit) */
        cpu->need_resched |= RESCHED_FRAME;
        /* During a fast hypercall the guest's rbx waits in user_rsp, and the way out copies it
         * into the frame from there (syscall.S's entry): so the restored rbx goes there too. */
        cpu->user_rsp = f.rbx;
    }
    *ret = (long)f.rax; /* hypercall_entry writes the result into rax: unchanged */
    return 0;
}
