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
    /*
     * The whole frame is saved, as for every entry: whatever a handler or the way out does with
     * it (an upcall, a switch, a fault report) finds it complete. One CPU and no hypercall log
     * (hypercall_fast): the fast path below; otherwise the C path, which takes the hypervisor lock.
     */
    cmpb $0, hypercall_fast(%rip)
    je syscall_slow

    /*
     * The fast path: dispatch from the registers (the number in rax, the arguments where the
     * handlers' C convention wants them, r10 moved to rcx), every other guest register cleared
     * before any C code runs, the index masked, then one check of this CPU's pending work before
     * a direct sysret. rbx keeps the frame across the handler (callee-saved).
     */
    movq %rsp, %rbx
    movq %gs:PCPU_KSTACK_TOP, %rsp
    movq %r10, %rcx
    CLEAR_GPRS_PAST_ARGS
    cmpq $HYPERCALL_SLOTS, %rax
    jae .Lenosys
    sbbq %r9, %r9                         /* all ones (rax < slots, as the branch said), 0 if mispredicted */
    andq %r9, %rax                        /* so no load below uses an out-of-bounds index, even speculatively */
    movq %gs:PCPU_CUR_HYPERCALLS, %r11
    incl (%r11,%rax,4)                    /* metering: the domain's count of this hypercall */
    movq hypercall_table(,%rax,8), %rax
    testq %rax, %rax
    jz .Lenosys
    call *%rax
    /*
     * Interrupts stay off from the syscall (FMASK clears IF) to the sysret: no handler turns them
     * on with one CPU (only the idle halt and the SMP lock's wait do). need_resched is this CPU's
     * work-pending word: set whenever current may not simply go on (a tick, a block or yield, a
     * pause, a shutdown, a slice or cap used up; sched.c). An unmasked pending upcall is the one
     * other reason to take the slow way; it lives in the guest's own vcpu_info.
     */
.Lexit:
    cmpq $0, %gs:PCPU_NEED_RESCHED
    jne .Lexit_slow
    movq %gs:PCPU_CUR_VCPU_INFO, %rcx
    cmpb $0, (%rcx)                       /* evtchn_upcall_pending */
    jne .Lpending
.Lsysret:
    movq %rax, REGS_RAX(%rbx)
    movq %rbx, %rsp
    jmp return_frame
.Lpending:
    cmpb $0, 1(%rcx)                      /* evtchn_upcall_mask: masked, the upcall waits */
    jne .Lsysret
.Lexit_slow:
    movq %rbx, %rdi
    movq %rax, %rsi
    xorl %edx, %edx                       /* no guest argument left in a register for C (-ENOSYS) */
    xorl %r8d, %r8d
    call hypercall_exit                   /* stores the result, exit_to_guest; never returns */
    ud2
.Lenosys:
    movq $-38, %rax                       /* -XEN_ENOSYS */
    jmp .Lexit

syscall_slow:
    movq %rsp, %rdi
    movq %gs:PCPU_KSTACK_TOP, %rsp
    CLEAR_GUEST_GPRS                      /* the frame has them; C reads its arguments there */
    call hypercall_entry
    ud2                                   /* hypercall_entry never returns */

    /* noreturn void return_to_guest(void): interrupts off, percpu.cur_regs set. */
    .globl return_to_guest
return_to_guest:
    movq %gs:PCPU_CUR_REGS, %rsp
return_frame:
    /*
     * sysret only for a frame the syscall entry saved, and only to a canonical user rip: on Intel
     * CPUs sysret to a non-canonical rip faults in ring 0 on the guest's stack (CVE-2012-0217).
     */
    cmpq $VEC_SYSCALL, REGS_VECTOR(%rsp)
    jne 1f
    movabsq $0x00007ffffffff000, %rcx
    cmpq %rcx, REGS_RIP(%rsp)
    jae 1f
    /* rcx and r11 get the return rip and rflags straight from the frame (sysret's operands). */
    movq REGS_RIP(%rsp), %rcx
    movq REGS_RFLAGS(%rsp), %r11
    andq $RFLAGS_USER_MASK, %r11
    orq $0x202, %r11                      /* IF, and the always-one bit */
    movq 0x00(%rsp), %r15
    movq 0x08(%rsp), %r14
    movq 0x10(%rsp), %r13
    movq 0x18(%rsp), %r12
    movq 0x28(%rsp), %r10
    movq 0x30(%rsp), %r9
    movq 0x38(%rsp), %r8
    movq 0x40(%rsp), %rbp
    movq 0x48(%rsp), %rdi
    movq 0x50(%rsp), %rsi
    movq 0x58(%rsp), %rdx
    movq REGS_RBX(%rsp), %rbx
    movq REGS_RAX(%rsp), %rax
    movq REGS_RSP(%rsp), %rsp
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

    /*
     * long upcall_frame_write(void *dst, const struct cpu_regs *r): the event upcall frame
     * (public/hv.h, struct upcall_frame) written straight from the saved registers to the guest
     * stack at dst, which the caller has checked (a user range, below GUEST_VA_LIMIT): the
     * registers r15 to rax (the frame's first 15 words are cpu_regs' own), then rip, rflags and
     * rsp. One pass over the registers (no copy on the hypervisor stack first), one SMAP window;
     * a fault on any of the stores resumes at copy_user_fixup (-EFAULT), as copy_user's do.
     */
    .globl upcall_frame_write
upcall_frame_write:
    testb $1, smap_enabled(%rip)
    jz 1f
    stac
1:  movq %rsi, %rax
    movl $15, %ecx
    .globl upcall_frame_fault_ip_q
upcall_frame_fault_ip_q:
    rep movsq                             /* rdi now at the frame's rip */
    movq REGS_RIP(%rax), %rcx
    .globl upcall_frame_fault_ip_rip
upcall_frame_fault_ip_rip:
    movq %rcx, 0(%rdi)
    movq REGS_RFLAGS(%rax), %rcx
    .globl upcall_frame_fault_ip_rflags
upcall_frame_fault_ip_rflags:
    movq %rcx, 8(%rdi)
    movq REGS_RSP(%rax), %rcx
    .globl upcall_frame_fault_ip_rsp
upcall_frame_fault_ip_rsp:
    movq %rcx, 16(%rdi)
    testb $1, smap_enabled(%rip)
    jz 2f
    clac
2:  xorl %eax, %eax
    ret

    /*
     * long get_user_u32(uint32_t *dst, const void *src): one 4-byte word from a guest address the
     * caller has checked (copy_u32_from_guest), as a single load where copy_user would take a
     * 4-step `rep movsb`. A fault on the load resumes at copy_user_fixup (-EFAULT).
     */
    .globl get_user_u32
get_user_u32:
    testb $1, smap_enabled(%rip)
    jz 1f
    stac
1:
    .globl get_user_u32_fault_ip
get_user_u32_fault_ip:
    movl (%rsi), %eax
    movl %eax, (%rdi)
    testb $1, smap_enabled(%rip)
    jz 2f
    clac
2:  xorl %eax, %eax
    ret
