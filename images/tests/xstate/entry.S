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
    /*
     * Then the general registers' probe, while no tick has yet saved this domain's own values
     * over its frame: an upcall forced at the way out of the first plain hypercall (the guest
     * sets its own upcall_pending and unmasks, as Xen's guests do to get a pending event
     * delivered) shows the frame's 15 register words, copied to initial_gprs. The rcx and r11
     * slots are the ones the syscall fast path does not write (hv/arch/x86_64/syscall.S).
     */
2:  mov 24(%r12), %r13          /* start_info.shared_info_va: vcpu_info[0] is at its start */
    lea probe_upcall(%rip), %rdi
    xor %esi, %esi
    mov $4, %eax                /* __HYPERVISOR_set_callbacks */
    syscall
    movb $0, 1(%r13)            /* evtchn_upcall_mask */
    movb $1, 0(%r13)            /* evtchn_upcall_pending */
    mov $1, %eax                /* unassigned: -ENOSYS, then the upcall */
    syscall
3:  xor %edi, %edi              /* no callback until the runtime installs one */
    xor %esi, %esi
    mov $4, %eax
    syscall
    mov %r12, %rdi
    xor %ebp, %ebp
    call guest_start
    ud2
    .size _start, . - _start

    /* The upcall: rdi (and rsp) at the frame. The event is taken; back to the frame's rip and
     * rsp (events stay masked: the hypervisor masked them to deliver this). r12 and r13 are as
     * _start left them: the upcall enters with the interrupted registers. */
probe_upcall:
    mov %rdi, %rsi
    lea initial_gprs(%rip), %rdi
    mov $15, %ecx
    rep movsq                   /* rsi now at the frame's rip */
    movb $1, initial_gprs_seen(%rip)
    movb $0, 0(%r13)            /* evtchn_upcall_pending: taken */
    mov 16(%rsi), %rsp
    jmp *(%rsi)

    /* In .data (zero), not .bss: guest_start clears .bss after _start has written here. */
    .data
    .balign 64
    .globl initial_xstate
initial_xstate:
    .skip 4096
    .globl initial_xstate_xsave
initial_xstate_xsave:
    .byte 0
    .balign 8
    .globl initial_gprs
initial_gprs:
    .skip 15 * 8
    .globl initial_gprs_seen
initial_gprs_seen:
    .byte 0
