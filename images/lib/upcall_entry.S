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
 * One trampoline, UPCALL_ENTRY, for every handler the runtime registers, in two forms: the XSAVE
 * one (the name itself) and the FXSAVE one (the name with _fx), so that neither tests at each
 * upcall which it is. upcall_entry_form (upcall.h) picks the one xstate_init found; the FXSAVE
 * area is always 512 bytes, and the XSAVE form is registered only once xstate_init found its size.
 *   upcall_entry          calls upcall_handler (weak: a guest may define its own; upcall.c)
 *   evtchn_upcall_entry   calls evtchn_upcall_handler, the event-channel dispatcher (evtchn.c),
 *                         so that guests with their own upcall_handler stay exactly as they are
 */
.macro UPCALL_ENTRY name, handler, xsave
    .text
    .globl \name
    .type \name, @function
\name:
    cld
    mov %rdi, %rbx              /* the frame (the interrupted rbx is in it) */
.if \xsave
    sub upcall_xstate_size(%rip), %rsp
    and $-64, %rsp              /* XSAVE wants 64-byte alignment */
    /* The standard form of XRSTOR faults unless XSTATE_BV names only components XCR0 enables
     * and the header's other bytes are zero; XSAVE writes only XSTATE_BV's bits for the
     * components it saves and leaves the rest of the header as it finds it (stack garbage here).
     * Intel's current manual checks only bytes 8 to 23, but earlier editions fault on any of
     * bytes 16 to 63, and a guest must run on every CPU: the whole header is cleared. */
    movq $0, 512(%rsp)
    movq $0, 520(%rsp)
    movq $0, 528(%rsp)
    movq $0, 536(%rsp)
    movq $0, 544(%rsp)
    movq $0, 552(%rsp)
    movq $0, 560(%rsp)
    movq $0, 568(%rsp)
    mov $-1, %eax
    mov $-1, %edx
    xsave64 (%rsp)
.else
    sub $512, %rsp
    and $-16, %rsp              /* FXSAVE wants 16-byte alignment (the handler's call 16 too) */
    fxsave64 (%rsp)
.endif
    mov %rbx, %rdi
    call \handler               /* rsp is 16-byte aligned (64 with XSAVE), as the ABI wants */
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
.if \xsave
    mov $-1, %eax
    mov $-1, %edx
    xrstor64 (%rsp)
.else
    fxrstor64 (%rsp)
.endif
    mov %rbx, %rsp              /* the frame is at rsp again */
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
     * The flags are pushed first, for the popfq (into our own red zone, just below the frame),
     * so the frame's offsets below are 8 more than its fields'.
     *
     * rbp, r13, r14 and r15 are not loaded: the hypervisor enters us with every register but
     * rip, rsp, rdi, rcx and r11 as the interrupted context had it (public/hv.h), nothing above
     * writes those four, and the handler, compiled C, keeps them (callee-saved). rbx and r12,
     * which we used, and the registers a call may change come back from the frame.
     */
    pushq 128(%rsp)             /* its rflags (read before the rip store below may cover it) */
    mov 144(%rsp), %rcx         /* the interrupted rsp */
    mov 128(%rsp), %rax         /* its rip */
    lea -144(%rcx), %rcx
    mov %rax, (%rcx)            /* may cover the frame's rflags and rsp words, read above */
    mov %rcx, 128(%rsp)         /* the rsp for the ret, in the frame's rip word */
    mov 32(%rsp), %r12
    mov 40(%rsp), %r11
    mov 48(%rsp), %r10
    mov 56(%rsp), %r9
    mov 64(%rsp), %r8
    mov 80(%rsp), %rdi
    mov 88(%rsp), %rsi
    mov 96(%rsp), %rdx
    mov 104(%rsp), %rcx
    mov 112(%rsp), %rbx
    mov 120(%rsp), %rax
    popfq                       /* the flags last: only moves and the ret follow (ring 3 keeps IF) */
    mov 120(%rsp), %rsp
    ret $136
5:  mov %rsp, %rdi
    mov $23, %eax               /* __HYPERVISOR_iret (checked in upcall.c) */
    syscall
    /* iret returned: the frame was refused. Nothing sane to resume; crash the domain. */
    call upcall_iret_failed
    ud2
    .size \name, . - \name
.endm

UPCALL_ENTRY upcall_entry, upcall_handler, 1
UPCALL_ENTRY upcall_entry_fx, upcall_handler, 0
UPCALL_ENTRY evtchn_upcall_entry, evtchn_upcall_handler, 1
UPCALL_ENTRY evtchn_upcall_entry_fx, evtchn_upcall_handler, 0
