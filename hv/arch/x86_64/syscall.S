/* SPDX-License-Identifier: MIT */
/*
 * Guest entry by syscall and every exit to a guest. There is one hypervisor stack per CPU; a
 * guest's registers are saved straight into its vCPU's struct cpu_regs (the syscall entry points
 * rsp there, and for interrupts from ring 3 the TSS's rsp0 does), so nothing is copied twice and
 * a context switch is only a matter of pointing percpu.current elsewhere: a vCPU's frame is its
 * first member, so current is also the address its entries save into.
 */
#include <moat/cpu.h>

#include "gprs.h"

#define RFLAGS_USER_MASK 0x0cd5 /* CF PF AF ZF SF DF OF: what a guest may set */

/*
 * The registers a sysret hands back, loaded from the frame at \frame: r11 gets the saved rflags
 * masked to what a guest may set, with IF and the always-one bit; then every register but rcx
 * (the caller has the return rip there), rbx, rax and rsp, which each caller loads last in its
 * own order (the frame's base may be one of them).
 *
 * from_syscall=1 (the direct sysret, whose frame's rflags is the r11 the CPU wrote at the
 * syscall) keeps IF and the always-one bit from the frame instead of setting them: bit 1 is set
 * in every rflags the CPU writes, and a guest always runs with IF set, so its syscall saves IF
 * set. Every way into ring 3 sets IF (arch_vcpu_start, this macro's other use, arch_upcall_pop) or
 * restores flags the CPU saved in ring 3, and ring 3 cannot clear it: IOPL is 0 (masked off on
 * every way in), so cli and sti fault and popfq leaves IF alone (images/tests/iret's
 * sysret_flags checks that, and the flags after a hypercall). The mask still takes away everything else a guest may not keep (TF, NT, AC,
 * IOPL, ...), exactly as with from_syscall=0.
 */
.macro SYSRET_LOAD frame, from_syscall=0
    movq REGS_RFLAGS(\frame), %r11
    .if \from_syscall
    andq $(RFLAGS_USER_MASK | 0x202), %r11
    .else
    andq $RFLAGS_USER_MASK, %r11
    orq $0x202, %r11                      /* IF, and the always-one bit */
    .endif
    movq 0x00(\frame), %r15
    movq 0x08(\frame), %r14
    movq 0x10(\frame), %r13
    movq 0x18(\frame), %r12
    movq 0x28(\frame), %r10
    movq 0x30(\frame), %r9
    movq 0x38(\frame), %r8
    movq 0x40(\frame), %rbp
    movq 0x48(\frame), %rdi
    movq 0x50(\frame), %rsi
    movq 0x58(\frame), %rdx
.endm

    .text
    /*
     * The C path's entry (MSR_LSTAR with several CPUs, partitions or the debug build): the whole
     * frame pushed, every guest register cleared, then hypercall_entry, which takes the
     * hypervisor lock.
     */
    .globl syscall_entry
syscall_entry:
    swapgs
    movq %rsp, %gs:PCPU_USER_RSP
    movq %gs:PCPU_TSS_RSP0, %rsp
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

    /*
     * The fast path's entry (MSR_LSTAR with one CPU and no hypercall log: hypercall_fast, chosen
     * by arch_hypercall_entry_select): no flag to test on every syscall.
     *
     * The frame is written with moves from its base: the registers, rip, rflags, rsp and the
     * vector, everything a handler, an upcall or a fault report reads. Not cs, ss and the error
     * code: a frame marked VEC_SYSCALL leaves by sysret, which takes cs and ss from MSR_STAR, and
     * the one handler that turns it into an iret frame (arch_upcall_pop) writes them itself.
     *
     * Nor the rcx and r11 slots: after a syscall the guest's rcx and r11 are its rip and rflags
     * (the syscall instruction overwrote what the guest had in them, and the ABI lets a
     * hypercall clobber both), which the frame holds in their own slots, and a sysret takes them
     * from there. The two slots keep what this vCPU's own last full save (an interrupt or a
     * fault from ring 3, or an iret hypercall) put there, or the zero of its domain's creation
     * (domain_create clears the whole slot): never another domain's values. An upcall at the
     * way out shows them in its frame; the guest's rcx and r11 are dead there anyway
     * (tests/domains/test_xstate.py's fresh child checks that no earlier domain's values show).
     *
     * Nor the rax slot: the number is in rax for the dispatch, which reads nothing of it from the
     * frame, and every way out that leaves the frame to be read writes the result there first
     * (.Lexit_slow before the scheduler or an upcall reads it, .Lchecked before return_frame);
     * the direct sysret returns the result in rax, and the slot keeps this vCPU's own earlier
     * value, as the rcx and r11 slots do, until the next full save or slow exit (nothing reads a
     * running vCPU's frame meanwhile: with one CPU no other vCPU runs until it leaves by one of
     * those ways, and the C path's entry pushes the whole frame).
     *
     * Nor the vector: it is VEC_SYSCALL already. Whenever a guest runs, its frame's vector is
     * VEC_SYSCALL: the sysret ways out leave only such a frame, and the iret way out
     * (return_frame) writes it back after the interrupt, fault or rewritten frame it returns
     * from. So every reader finds the vector of the entry that made the frame, as before, and
     * the store is paid by the rarer iret exits instead of every hypercall.
     */
    .globl syscall_entry_fast
syscall_entry_fast:
    /*
     * The frame is reached through rbx, which keeps it across the handler, rather than through
     * rsp: the guest's rbx waits in the per-CPU scratch slot (as the C path's entry parks the
     * guest's rsp there), the guest's rsp is stored straight into the frame, and no move of the
     * frame's address from rsp to rbx is needed before the dispatch. rsp keeps the guest's value
     * until the dispatch loads the hypervisor stack; nothing in between uses the stack, and with
     * interrupts off (FMASK) the only events that can come are the NMI, #MC and #DF, which
     * switch to their IST stacks whatever rsp holds.
     *
     * The guest's rbx stays in that slot until the way out, as the rax slot is left to the way
     * out: the direct sysret takes rbx back from the slot, and every way out that leaves the frame
     * to be read (.Lexit_slow before the scheduler, an upcall or a switch reads it, .Lchecked
     * before return_frame) copies it into the frame's rbx slot first. Nothing reads or writes the
     * slot meanwhile: the C path's entry is not this CPU's LSTAR while the fast path is (one CPU),
     * the handler runs with interrupts off, and the NMI, #MC and #DF entries never touch it. The
     * one handler that rewrites the guest's registers, the iret hypercall (arch_upcall_pop),
     * writes the new rbx into the slot as well as into the frame, so the copy on the way out puts
     * back the rewritten value. A handler that read the frame's rbx would find the vCPU's value
     * from its last full save or slow exit (none does: the registers are read from the frame only
     * by the upcall push, after the copy, and by the report of a fault from ring 3, a full save).
     */
    swapgs
    movq %rbx, %gs:PCPU_USER_RSP
    movq %gs:PCPU_CURRENT, %rbx            /* current's frame: its first member */
    movq %rsp, REGS_RSP(%rbx)
    movq %r15, 0x00(%rbx)
    movq %r14, 0x08(%rbx)
    movq %r13, 0x10(%rbx)
    movq %r12, 0x18(%rbx)
    movq %r10, 0x28(%rbx)
    movq %r9, 0x30(%rbx)
    movq %r8, 0x38(%rbx)
    movq %rbp, 0x40(%rbx)
    movq %rdi, 0x48(%rbx)
    movq %rsi, 0x50(%rbx)
    movq %rdx, 0x58(%rbx)
    movq %rcx, REGS_RIP(%rbx)
    movq %r11, REGS_RFLAGS(%rbx)

    /*
     * Dispatch from the registers: the number in rax, the arguments where the handlers' C
     * convention wants them (r10 moved to rcx), every other guest register cleared or
     * overwritten before any C code runs (r9 by the mask, r11 by the counters' address and r12
     * by current's vcpu_info, both read through the frame from its vCPU), the index masked, then one
     * check of this CPU's pending work before a direct sysret. rbx keeps the frame across the
     * handler (loaded at the entry) and r12 the vcpu_info the exit tests (both callee-saved: loaded
     * before the call, where nothing else waits for them). Every table slot holds a handler (the
     * unused ones do_ni_hypercall), so the call needs no NULL test.
     */
    movq %gs:PCPU_KSTACK_TOP, %rsp
    movq %r10, %rcx
    movq VCPU_HYPERCALLS(%rbx), %r11      /* the frame is its vCPU's first member */
    movq VCPU_VCPU_INFO(%rbx), %r12
    xorl %ebp, %ebp
    xorl %r10d, %r10d
    xorl %r13d, %r13d
    xorl %r14d, %r14d
    xorl %r15d, %r15d
    cmpq $HYPERCALL_SLOTS, %rax
    sbbq %r9, %r9                         /* all ones if rax < slots, else 0; sbb keeps CF for the jae */
    jae .Lenosys
    andq %r9, %rax                        /* so no load below uses an out-of-bounds index, even speculatively */
    incl (%r11,%rax,4)                    /* metering: the domain's count of this hypercall */
    call *hypercall_table(,%rax,8)
    /*
     * Interrupts stay off from the syscall (FMASK clears IF) to the sysret: no handler turns them
     * on with one CPU (only the idle halt and the SMP lock's wait do). need_resched is this CPU's
     * work-pending word: set whenever current may not simply go on (a tick, a block or yield, a
     * pause, a shutdown, a slice or cap used up; sched.c), or RESCHED_FRAME (the iret hypercall
     * rewrote the frame: the checked way out, moat/cpu.h). An unmasked pending upcall is the one
     * other reason to take the slow way; it lives in the guest's own vcpu_info, whose first two
     * bytes, evtchn_upcall_pending and evtchn_upcall_mask, are compared as one word with 1:
     * pending set as the hypervisor sets it (1), and not masked. A guest that writes another
     * value into its own pending byte gets that upcall at its next exit through the scheduler
     * (a tick at the latest, which tests any non-zero value) rather than at this one.
     *
     * r12 holds current's vcpu_info from the entry (its vCPU's vcpu_info pointer, which is set
     * when the shared-info page is made and never changes after): no switch happens before this
     * test (only the way out below switches), so it is still current's.
     */
.Lexit:
    cmpl $0, %gs:PCPU_NEED_RESCHED        /* need_resched alone (not switch_general beside it) */
    jne .Lexit_slow
    cmpw $1, (%r12)                       /* evtchn_upcall_pending 1, evtchn_upcall_mask 0 */
    je .Lexit_slow
    /*
     * The direct sysret. The frame is the one the entry above wrote (a handler that rewrites it
     * sets RESCHED_FRAME, and nothing else runs between): its vector is VEC_SYSCALL, its rip
     * and rflags are what the CPU put in rcx and r11 at the syscall. The result stays in rax
     * and the guest's rbx comes back from the per-CPU slot (neither frame slot is written: see
     * the entry). Still checked
     * here: the rip below the user limit (CVE-2012-0217, as return_frame), and the flags masked to
     * what a guest may set.
     */
.Lsysret:
    movq REGS_RIP(%rbx), %rcx
    cmpq user_rip_limit(%rip), %rcx
    jae .Lchecked
    SYSRET_LOAD %rbx, from_syscall=1
    movq REGS_RSP(%rbx), %rsp
    movq %gs:PCPU_USER_RSP, %rbx          /* the guest's, parked at the entry */
    swapgs
    sysretq
.Lchecked:                                /* return_frame decides (an iretq, which faults in the guest's name) */
    movq %rax, REGS_RAX(%rbx)
    movq %gs:PCPU_USER_RSP, %rcx          /* the guest's rbx into the frame, which is read now */
    movq %rcx, REGS_RBX(%rbx)
    movq %rbx, %rsp
    jmp return_frame
    /*
     * Work pending: the result and the guest's rbx into the frame, then the scheduler's decision
     * (exit_to_guest_resched, with this CPU in rdi, the one register of the five scrubbed here
     * that C needs anyway). The stores are made
     * even if the caller shut itself down (its frame, in its static domain slot, is then never
     * returned to). The C way out ends in return_to_guest, which checks everything, so
     * RESCHED_FRAME is done with: exit_to_guest_resched clears it before the scheduler reads the
     * word (its plain switch takes only a word that is RESCHED_SWITCH alone, so it needs no
     * clearing, and the other way clears the bit first).
     */
.Lexit_slow:
    movq %rax, REGS_RAX(%rbx)
    movq %gs:PCPU_USER_RSP, %rcx          /* the guest's rbx into the frame (see the entry) */
    movq %rcx, REGS_RBX(%rbx)
    xorl %ecx, %ecx                       /* no guest argument left in a register for C (-ENOSYS) */
    xorl %edx, %edx
    xorl %esi, %esi
    movq %gs:PCPU_SELF, %rdi              /* its argument, this CPU: loaded in place of a clear */
    xorl %r8d, %r8d
    call exit_to_guest_resched            /* never returns */
    ud2
.Lenosys:
    movq $-38, %rax                       /* -XEN_ENOSYS */
    jmp .Lexit

    /*
     * MSR_CSTAR's target, syscall from 32-bit code. Unreachable: the GDT has no 32-bit user code
     * segment and guests have no LDT (gdt.c). Were it reached, this runs in ring 0 on the guest's
     * stack with the guest's GS: it touches no memory and goes straight back with -ENOSYS.
     */
    .globl syscall_compat
syscall_compat:
    movl $-38, %eax                       /* -XEN_ENOSYS */
    sysretl

    /* noreturn void return_to_guest(void): interrupts off, percpu.current set (its frame first). */
    .globl return_to_guest
return_to_guest:
    movq %gs:PCPU_CURRENT, %rsp           /* current's frame: its first member */
return_frame:
    /*
     * sysret only for a frame the syscall entry saved, and only to a canonical user rip: on Intel
     * CPUs sysret to a non-canonical rip faults in ring 0 on the guest's stack (CVE-2012-0217).
     */
    cmpq $VEC_SYSCALL, REGS_VECTOR(%rsp)
    jne 1f
    movq REGS_RIP(%rsp), %rcx
    cmpq user_rip_limit(%rip), %rcx
    jae 1f
    /* rcx and r11 get the return rip and rflags straight from the frame (sysret's operands). */
    SYSRET_LOAD %rsp
    movq REGS_RBX(%rsp), %rbx
    movq REGS_RAX(%rsp), %rax
    movq REGS_RSP(%rsp), %rsp
    swapgs
    sysretq

1:  movq $VEC_SYSCALL, REGS_VECTOR(%rsp) /* the guest runs with this vector (syscall_entry_fast) */
    POP_GPRS
    addq $16, %rsp                        /* vector, error code */
    swapgs
    iretq

    /* The first rip sysret may not return to: the last user page and everything above it. */
    .section .rodata
    .balign 8
user_rip_limit:
    .quad 0x00007ffffffff000
    .text

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
     * bool upcall_frame_push(uint64_t dst, struct cpu_regs *r, uint64_t callback): the event
     * upcall frame (public/hv.h, struct upcall_frame) written straight from the saved registers
     * to the guest stack at dst, which the caller has checked (a user range, below
     * GUEST_VA_LIMIT): the registers r15 to rax (the frame's first 15 words are cpu_regs' own),
     * then rip, rflags and rsp; then the registers enter the callback (rip = callback, rsp = rdi
     * = dst) and it returns true. The arguments come in the registers rep movsq takes (rdi the
     * destination, rsi the source) and callback in one it leaves alone (rdx): no move before
     * the copy, and r is reached after it through rsi, which the copy left 15 words on. One pass
     * over the registers (no copy on the hypervisor stack first), one SMAP window, and the
     * caller (arch_upcall_push) needs no frame of its own. A fault on any of the stores resumes
     * at upcall_frame_fixup: false, the registers unchanged.
     */
    .globl upcall_frame_push
upcall_frame_push:
    testb $1, smap_enabled(%rip)
    jz 1f
    stac
1:  movl $15, %ecx
    .globl upcall_frame_fault_ip_q
upcall_frame_fault_ip_q:
    rep movsq                             /* rdi now at the frame's rip, rsi at r's vector */
    movq (REGS_RIP - 15 * 8)(%rsi), %rcx
    .globl upcall_frame_fault_ip_rip
upcall_frame_fault_ip_rip:
    movq %rcx, 0(%rdi)
    movq (REGS_RFLAGS - 15 * 8)(%rsi), %rcx
    .globl upcall_frame_fault_ip_rflags
upcall_frame_fault_ip_rflags:
    movq %rcx, 8(%rdi)
    movq (REGS_RSP - 15 * 8)(%rsi), %rcx
    .globl upcall_frame_fault_ip_rsp
upcall_frame_fault_ip_rsp:
    movq %rcx, 16(%rdi)
    testb $1, smap_enabled(%rip)
    jz 2f
    clac
2:  leaq -(15 * 8)(%rdi), %rdi            /* back to dst, the frame's start (rdi was at its rip) */
    movq %rdx, (REGS_RIP - 15 * 8)(%rsi)
    movq %rdi, (REGS_RSP - 15 * 8)(%rsi)
    movq %rdi, (0x48 - 15 * 8)(%rsi)      /* rdi: the callback's argument, the frame */
    movl $1, %eax
    ret
    .globl upcall_frame_fixup
upcall_frame_fixup:
    testb $1, smap_enabled(%rip)
    jz 3f
    clac
3:  xorl %eax, %eax
    ret
