/* SPDX-License-Identifier: MIT */
/*
 * Saving and restoring the general registers in struct cpu_regs order (moat/cpu.h): rax is pushed
 * first, so it ends up highest, and r15 last, at the lowest address. For assembly files only.
 */
#ifndef MOAT_ARCH_GPRS_H
#define MOAT_ARCH_GPRS_H

.macro PUSH_GPRS
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro POP_GPRS
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
.endm

/*
 * Zeroes the general registers that carry no hypercall argument: rbp and r9 to r15. The
 * hypercall fast path (syscall.S) keeps the number and the five arguments in rax, rdi, rsi, rdx,
 * rcx (r10 moved there) and r8 for the handler and clears the rest with this;
 * CLEAR_GUEST_GPRS clears these and the argument registers too.
 */
.macro CLEAR_GPRS_PAST_ARGS
    xorl %ebp, %ebp
    xorl %r9d, %r9d
    xorl %r10d, %r10d
    xorl %r11d, %r11d
    xorl %r12d, %r12d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
.endm

/*
 * Zeroes every general register a guest may have loaded, except rdi (the caller sets it to the
 * frame) and rsp, once they are saved: no guest value stays in a register the hypervisor's C code
 * could use under speculation (a callee-saved register keeps its value until the C code reuses
 * it). 32-bit xors also clear the upper halves.
 */
.macro CLEAR_GUEST_GPRS
    xorl %eax, %eax
    xorl %ebx, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %r8d, %r8d
    CLEAR_GPRS_PAST_ARGS
.endm

#endif
