/* SPDX-License-Identifier: MIT */
/*
 * Holding a known extended state in the registers across domain switches and upcalls (xstate.c
 * has struct xpattern, whose layout these offsets follow): ymm0-15 (or xmm0-15) at 0 (32 bytes
 * each), mm0-7 (the x87 registers) at 512, MXCSR at 576, the x87 control word at 580.
 */
#define P_MM 512
#define P_MXCSR 576
#define P_FCW 580
#define FLAG_AVX 1
#define FLAG_YIELD 2
#define FLAG_BLOCK 4 /* with FLAG_YIELD: SCHEDOP_block (until the next timer event) instead */
#define FLAG_CALL 8  /* instead of yielding: the hypercall xstate_call_nr(xstate_call_arg) */

    .text

/* Loads every register from the pattern at r12; r15 = flags. */
    .macro LOAD_ALL
    ldmxcsr P_MXCSR(%r12)
    fldcw P_FCW(%r12)
    movq P_MM + 0(%r12), %mm0
    movq P_MM + 8(%r12), %mm1
    movq P_MM + 16(%r12), %mm2
    movq P_MM + 24(%r12), %mm3
    movq P_MM + 32(%r12), %mm4
    movq P_MM + 40(%r12), %mm5
    movq P_MM + 48(%r12), %mm6
    movq P_MM + 56(%r12), %mm7
    test $FLAG_AVX, %r15b
    jz 81f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu \r * 32(%r12), %ymm\r
    .endr
    jmp 82f
81:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu \r * 32(%r12), %xmm\r
    .endr
82:
    .endm

/*
 * void xstate_hold(const struct xpattern *p, struct xpattern *out, unsigned long spins,
 *                  unsigned long flags, unsigned long chunks)
 * Loads p into the registers, spins `chunks` times `spins` iterations (with SCHEDOP_yield after
 * each chunk when flags has FLAG_YIELD, SCHEDOP_block with FLAG_BLOCK too; with FLAG_CALL the
 * hypercall number xstate_call_nr with the one argument xstate_call_arg instead, its result in
 * xstate_call_rc), touching none of them, then stores them into out.
 */
    .globl xstate_hold
    .type xstate_hold, @function
xstate_hold:
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rdi, %r12
    mov %rsi, %r13
    mov %rdx, %r14
    mov %rcx, %r15
    mov %r8, %rbx
    LOAD_ALL
1:  mov %r14, %rcx
2:  dec %rcx
    jnz 2b
    test $FLAG_CALL, %r15b
    jz 7f
    mov xstate_call_nr(%rip), %rax
    mov xstate_call_arg(%rip), %rdi
    syscall
    mov %rax, xstate_call_rc(%rip)
    jmp 3f
7:  test $FLAG_YIELD, %r15b
    jz 3f
    mov $29, %eax               /* __HYPERVISOR_sched_op */
    xor %edi, %edi              /* SCHEDOP_yield */
    test $FLAG_BLOCK, %r15b
    jz 6f
    mov $1, %edi                /* SCHEDOP_block: this CPU may idle, and another take the vCPU */
6:  xor %esi, %esi
    syscall
3:  dec %rbx
    jnz 1b
    stmxcsr P_MXCSR(%r13)
    fnstcw P_FCW(%r13)
    movq %mm0, P_MM + 0(%r13)
    movq %mm1, P_MM + 8(%r13)
    movq %mm2, P_MM + 16(%r13)
    movq %mm3, P_MM + 24(%r13)
    movq %mm4, P_MM + 32(%r13)
    movq %mm5, P_MM + 40(%r13)
    movq %mm6, P_MM + 48(%r13)
    movq %mm7, P_MM + 56(%r13)
    test $FLAG_AVX, %r15b
    jz 4f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu %ymm\r, \r * 32(%r13)
    .endr
    vzeroupper
    jmp 5f
4:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu %xmm\r, \r * 32(%r13)
    .endr
5:  fninit                      /* x87 empty and FCW 0x37f again, as the ABI wants */
    push $0x1f80
    ldmxcsr (%rsp)
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    ret
    .size xstate_hold, . - xstate_hold
    .globl xstate_hold_end
xstate_hold_end:

/* void xstate_clobber(const struct xpattern *p, unsigned long flags): every register from p. */
    .globl xstate_clobber
    .type xstate_clobber, @function
xstate_clobber:
    push %r12
    push %r15
    mov %rdi, %r12
    mov %rsi, %r15
    LOAD_ALL
    emms
    pop %r15
    pop %r12
    ret
    .size xstate_clobber, . - xstate_clobber
