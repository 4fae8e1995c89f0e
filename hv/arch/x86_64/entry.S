/* SPDX-License-Identifier: MIT */
/*
 * Interrupt and exception entry: every vector pushes an error code (a zero where the CPU gives
 * none) and its number, so that one common path can build a struct cpu_regs (see cpu.h).
 */
#include <moat/cpu.h>

#include "gprs.h"

/* Vectors 8, 10-14, 17, 21, 29, 30 come with a CPU-pushed error code. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .text
    .macro vector_stub v
    .balign 16
vector_\v:
    .if (HAS_ERROR_CODE(\v)) == 0
    pushq $0
    .endif
    pushq $\v
    jmp common_entry
    .endm

    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,240,241,242,243,255
    vector_stub \v
    .endr

common_entry:
    PUSH_GPRS
    cld
    /*
     * Ring 3 may set EFLAGS.AC (popf), and an interrupt or exception keeps it: with AC set, SMAP
     * lets ring 0 touch user pages. Clear it on every entry; iretq restores the interrupted
     * context's own flags (copy_user's fixup runs with AC clear and clears it again anyway).
     * clac is only legal on a CPU with SMAP.
     */
    testb $1, smap_enabled(%rip)
    jz 1f
    clac
1:
    movq %rsp, %rdi
    testb $3, REGS_CS(%rsp)
    jnz from_guest
    /* A frame-pointer link to the interrupted code, so backtraces cross the exception. */
    pushq 0x88(%rsp)                 /* rip */
    pushq %rbp
    movq %rsp, %rbp
    call exception_dispatch
    addq $16, %rsp
    POP_GPRS
    addq $16, %rsp                   /* vector and error code */
    iretq

    /* From ring 3: the frame is in the vCPU's struct cpu_regs; continue on the hypervisor stack. */
from_guest:
    swapgs
    movq %gs:PCPU_KSTACK_TOP, %rsp
    CLEAR_GUEST_GPRS                 /* the frame has them */
    call guest_trap
    ud2                              /* guest_trap never returns */

    /* The table idt.c reads: the entry address of each stub, in vector order. */
    .section .rodata
    .balign 8
    .globl exception_stubs
exception_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad vector_\v
    .endr
    .globl timer_stub
timer_stub: .quad vector_240
    .globl spurious_stub
spurious_stub: .quad vector_255
    .globl ipi_stubs                 /* VEC_IPI_WAKE, VEC_IPI_CALL, VEC_IPI_STOP */
ipi_stubs: .quad vector_241, vector_242, vector_243
