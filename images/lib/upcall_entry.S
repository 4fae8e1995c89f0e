/* SPDX-License-Identifier: MIT */
/*
 * Event upcall entries (public/hv.h): entered with rsp = rdi = struct upcall_frame *, 16-byte
 * aligned, events masked. The frame holds every general register of the interrupted context, so
 * none needs saving here; the extended state (x87, SSE, AVX) is not in it, and the handler is
 * compiled C that may use any of it, so it is saved below the frame (XSAVE or FXSAVE, as
 * xstate_init found) and restored before the rest comes back from the frame: by the guest itself
 * (ring 3 to ring 3) when no event waits, else by the iret hypercall, which unmasks events
 * and delivers the one that waits.
 *
 * One trampoline, UPCALL_ENTRY, for every handler the runtime registers:
 *   upcall_entry          calls upcall_handler (weak: a guest may define its own; upcall.c)
 *   evtchn_upcall_entry   calls evtchn_upcall_handler, the event-channel dispatcher (evtchn.c),
 *                         so that guests with their own upcall_handler stay exactly as they are
 */
.macro UPCALL_ENTRY name, handler
    .text
    .globl \name
    .type \name, @function
\name:
    cld
    xor %ebp, %ebp              /* a fresh frame chain: the interrupted one is in the frame */
    mov %rdi, %rbx              /* the frame (the interrupted rbx is in it) */
    mov upcall_xstate_size(%rip), %rcx
    test %rcx, %rcx
    jz 9f                       /* the start-up code never ran xstate_init */
    sub %rcx, %rsp
    and $-64, %rsp              /* XSAVE wants 64-byte alignment, FXSAVE 16 */
    cmpb $0, upcall_xstate_xsave(%rip)
    je 1f
    xor %eax, %eax              /* the header's fields other than XSTATE_BV must be zero for XRSTOR, and */
                                /* XSAVE keeps XSTATE_BV's bits outside its mask as it finds them */
    mov $8, %ecx
    lea 512(%rsp), %rdi
    rep stosq
    mov $-1, %eax
    mov $-1, %edx
    xsave64 (%rsp)
    jmp 2f
1:  fxsave64 (%rsp)
2:  mov %rbx, %rdi
    call \handler               /* rsp is 64-byte aligned: more than the ABI's 16 */
    /*
     * Our vcpu_info into r12 (callee-saved; the interrupted r12 is in the frame). While no other
     * vCPU was started (vcpu_stacks_n 0: vcpu_self() is 0, moat/vcpu.h) it is vCPU 0's, the shared
     * page's first bytes, without the call; else upcall_vcpu_info (upcall.c) finds it, while the
     * stack is still aligned.
     */
    mov shared_info(%rip), %r12
    cmpl $0, vcpu_stacks_n(%rip)
    je 6f
    call upcall_vcpu_info
    mov %rax, %r12
6:
    cmpb $0, upcall_xstate_xsave(%rip)
    je 3f
    mov $-1, %eax
    mov $-1, %edx
    xrstor64 (%rsp)
    jmp 4f
3:  fxrstor64 (%rsp)
4:  mov %rbx, %rsp              /* the frame is at rsp again */
    /*
     * Back to the interrupted context without the hypervisor (ring 3 to ring 3): events are
     * unmasked, and one that came while they were masked is left to the iret hypercall, which
     * the hypervisor answers by delivering it. An event that comes after the test is delivered
     * as a nested upcall on the way out of whatever hypervisor entry brings it: its frame goes
     * below our rsp's red zone, so the words below rsp used here survive it, and it returns
     * into this sequence with every register as it was.
     */
    movb $0, 1(%r12)            /* evtchn_upcall_mask */
    cmpb $0, (%r12)             /* evtchn_upcall_pending */
    jne 5f
    /*
     * The last two instructions set rsp and rip together: `ret $136` with rsp 144 below the
     * interrupted rsp, where the rip is stored: below the interrupted context's red zone (which
     * stays untouched) and above our frame's registers. From here on nothing a nested upcall
     * pushes (below the current rsp's red zone) reaches a word still to be read. (Not iretq:
     * QEMU's TCG pops its frame with supervisor accesses, which SMAP refuses on a user stack.)
     */
    mov 136(%rsp), %rcx         /* the interrupted rsp */
    mov 120(%rsp), %rax         /* its rip */
    lea -144(%rcx), %rcx
    mov 128(%rsp), %rdx         /* its rflags */
    mov %rax, (%rcx)            /* may cover the frame's rflags and rsp words, read above */
    mov %rcx, 120(%rsp)         /* the rsp for the ret, in the frame's rip word */
    mov %rdx, -8(%rsp)          /* for popfq, in our own red zone */
    mov 0(%rsp), %r15
    mov 8(%rsp), %r14
    mov 16(%rsp), %r13
    mov 24(%rsp), %r12
    mov 32(%rsp), %r11
    mov 40(%rsp), %r10
    mov 48(%rsp), %r9
    mov 56(%rsp), %r8
    mov 64(%rsp), %rbp
    mov 72(%rsp), %rdi
    mov 80(%rsp), %rsi
    mov 88(%rsp), %rdx
    mov 96(%rsp), %rcx
    mov 104(%rsp), %rbx
    mov 112(%rsp), %rax
    lea -8(%rsp), %rsp
    popfq                       /* the flags last: only moves and the ret follow (ring 3 keeps IF) */
    mov 120(%rsp), %rsp
    ret $136
5:  mov %rsp, %rdi
    mov $23, %eax               /* __HYPERVISOR_iret (checked in upcall.c) */
    syscall
    /* iret returned: the frame was refused. Nothing sane to resume; crash the domain. */
    call upcall_iret_failed
9:  ud2
    .size \name, . - \name
.endm

UPCALL_ENTRY upcall_entry, upcall_handler
UPCALL_ENTRY evtchn_upcall_entry, evtchn_upcall_handler
