/* SPDX-License-Identifier: MIT */
/*
 * Guest entry by syscall and every exit to a guest. There is one hypervisor stack per CPU; a
 * guest's registers are saved straight into its vCPU's struct cpu_regs (the syscall entry points
 * rsp there, and for interrupts from ring 3 the TSS's rsp0 does), so nothing is copied twice and
 * a context switch is only a matter of pointing percpu.cur_regs elsewhere.
 */
#include <moat/cpu.h>

#include "gprs.h"

#define RFLAGS_USER_MASK 0x0cd5 /* CF PF AF ZF SF DF OF: what a guest may set */

    .text
    .globl syscall_entry
syscall_entry:
    swapgs
    movq %rsp, %gs:PCPU_USER_RSP
    movq %gs:PCPU_CUR_REGS_TOP, %rsp
    pushq $(SEL_UDATA | 3)                /* ss */
    pushq %gs:PCPU_USER_RSP               /* rsp */
    pushq %r11                            /* rflags */
    pushq $(SEL_UCODE | 3)                /* cs */
    pushq %rcx                            /* rip */
    pushq $0                              /* error code */
    pushq $VEC_SYSCALL
    PUSH_GPRS
    movq %rsp, %rdi
    movq %gs:PCPU_KSTACK_TOP, %rsp
    CLEAR_GUEST_GPRS                      /* the frame has them; C reads its arguments there */
    call hypercall_entry
    ud2                                   /* hypercall_entry never returns */

    /* noreturn void return_to_guest(void): interrupts off, percpu.cur_regs set. */
    .globl return_to_guest
return_to_guest:
    movq %gs:PCPU_CUR_REGS, %rsp
    /*
     * sysret only for a frame the syscall entry saved, and only to a canonical user rip: on Intel
     * CPUs sysret to a non-canonical rip faults in ring 0 on the guest's stack (CVE-2012-0217).
     */
    cmpq $VEC_SYSCALL, REGS_VECTOR(%rsp)
    jne 1f
    movabsq $0x00007ffffffff000, %rax
    cmpq %rax, REGS_RIP(%rsp)
    jae 1f
    POP_GPRS
    movq 16(%rsp), %rcx                   /* rip */
    movq 32(%rsp), %r11                   /* rflags */
    andq $RFLAGS_USER_MASK, %r11
    orq $0x202, %r11                      /* IF, and the always-one bit */
    movq 40(%rsp), %rsp
    swapgs
    sysretq

1:  POP_GPRS
    addq $16, %rsp                        /* vector, error code */
    swapgs
    iretq

    /*
     * long copy_user(void *dst, const void *src, size_t n): the one place the hypervisor touches
     * guest virtual memory. A fault on the copy resumes at the fixup, which reports -EFAULT.
     * With SMAP on, user pages are reachable only between stac and clac. A length that is a
     * multiple of 8 (the upcall frame, most structures) moves 8 bytes a step: each step of a
     * rep counts as one instruction, and the upcall frame is copied on every event delivery
     * and every iret.
     */
    .globl copy_user
copy_user:
    movq %rdx, %rcx
    testb $1, smap_enabled(%rip)
    jz 2f
    stac
2:  testb $7, %cl
    jnz 5f
    shrq $3, %rcx
    .globl copy_user_fault_ip_q
copy_user_fault_ip_q:
    rep movsq
    jmp 6f
5:
    .globl copy_user_fault_ip
copy_user_fault_ip:
    rep movsb
6:  testb $1, smap_enabled(%rip)
    jz 3f
    clac
3:  xorl %eax, %eax
    ret
    .globl copy_user_fixup
copy_user_fixup:
    testb $1, smap_enabled(%rip)
    jz 4f
    clac
4:  movq $-14, %rax                       /* -XEN_EFAULT */
    ret
