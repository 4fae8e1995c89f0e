/* SPDX-License-Identifier: MIT */
/*
 * This image's own _start (instead of the runtime's): before any compiled code can touch a
 * register, it records the extended state the domain was started with (XSAVE, or FXSAVE when the
 * hypervisor enables no XSAVE) in initial_xstate, then starts the runtime as usual (rdi = the
 * start-info page, rsp 16-byte aligned).
 */
    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    mov %rdi, %r12
    mov $1, %eax
    cpuid
    lea initial_xstate(%rip), %rdi
    bt $27, %ecx                /* CPUID.1:ECX.OSXSAVE: XSAVE is enabled */
    jnc 1f
    mov $-1, %eax
    mov $-1, %edx
    xsave64 (%rdi)
    movb $1, initial_xstate_xsave(%rip)
    jmp 2f
1:  fxsave64 (%rdi)
2:  mov %r12, %rdi
    xor %ebp, %ebp
    call guest_start
    ud2
    .size _start, . - _start

    /* In .data (zero), not .bss: guest_start clears .bss after _start has written here. */
    .data
    .balign 64
    .globl initial_xstate
initial_xstate:
    .skip 4096
    .globl initial_xstate_xsave
initial_xstate_xsave:
    .byte 0
