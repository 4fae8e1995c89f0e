/* SPDX-License-Identifier: MIT */
/*
 * The bench child's own _start (it replaces the library's, which the linker then leaves out):
 * the very first guest instruction reads the TSC, so create_to_first_insn ends exactly there.
 * Only eax/edx are used before the TSC is stored; then the library's start-up as usual.
 */
    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    rdtsc
    mov %eax, first_tsc(%rip)
    mov %edx, first_tsc+4(%rip)
    xor %ebp, %ebp
    call guest_start
    ud2
    .size _start, . - _start

    /* In .data, not .bss: guest_start clears .bss after _start has stored this. */
    .data
    .balign 8
    .globl first_tsc
first_tsc:
    .quad 0
