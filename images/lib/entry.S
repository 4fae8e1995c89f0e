/* SPDX-License-Identifier: MIT */
/*
 * Guest entry. The hypervisor starts the guest in ring 3 with rsp = start_info.stack_top
 * (16-byte aligned) and rdi = the start-info page. Clearing rbp ends frame-pointer backtraces here.
 */
    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    mov %rsp, start_rsp(%rip)   /* kept for tests of the start-up state (start_info.stack_top) */
    xor %ebp, %ebp
    /* rsp is 16-byte aligned: after the call pushes the return address the callee sees the
     * alignment the SysV ABI promises. */
    call guest_start
    ud2                         /* guest_start does not return */
    .size _start, . - _start

    /* In .data, not .bss: guest_start clears .bss after _start has stored this. */
    .data
    .balign 8
    .globl start_rsp
start_rsp:
    .quad 0
