/* SPDX-License-Identifier: MIT */
/*
 * Event upcall entries (public/hv.h): entered with rsp = rdi = struct upcall_frame *, 16-byte
 * aligned, events masked. The frame holds every general register of the interrupted context, so
 * none needs saving here; the extended state (x87, SSE, AVX) is not in it, and the handler is
 * compiled C that may use any of it, so it is saved below the frame (XSAVE or FXSAVE, as
 * xstate_init found) and restored before iret(frame) restores the rest and unmasks events.
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
    xor %eax, %eax              /* the header's fields other than XSTATE_BV must be zero for XRSTOR */
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
    cmpb $0, upcall_xstate_xsave(%rip)
    je 3f
    mov $-1, %eax
    mov $-1, %edx
    xrstor64 (%rsp)
    jmp 4f
3:  fxrstor64 (%rsp)
4:  mov %rbx, %rsp              /* the frame is at rsp again */
    mov %rsp, %rdi
    mov $23, %eax               /* __HYPERVISOR_iret (checked in upcall.c) */
    syscall
    /* iret returned: the frame was refused. Nothing sane to resume; crash the domain. */
    call upcall_iret_failed
9:  ud2
    .size \name, . - \name
.endm

UPCALL_ENTRY upcall_entry, upcall_handler
UPCALL_ENTRY evtchn_upcall_entry, evtchn_upcall_handler
