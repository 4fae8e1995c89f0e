/* SPDX-License-Identifier: MIT */
/*
 * The probes' shared parts. probe_save keeps the callee-saved registers and the stack pointer in
 * memory (the iret loads every register from the frame); probe_iret points the frame's rip at
 * local label 1 and its rsp at this stack, then makes the iret hypercall; probe_restore, at local
 * label 2, takes them back. Control flow stays visible at each use: the jump to 2 on
 * a refused iret is written out there.
 */
.macro probe_save
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, probe_rsp(%rip)
.endm

.macro probe_iret
    lea 1f(%rip), %rax
    mov %rax, 15*8(%rdi)        /* frame->rip */
    mov %rsp, 17*8(%rdi)        /* frame->rsp */
    mov $23, %eax               /* __HYPERVISOR_iret */
    syscall
.endm

.macro probe_restore
    mov probe_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
.endm

/*
 * long iret_probe(struct upcall_frame *frame): iret(frame) with frame->rip and frame->rsp set
 * to resume right here, on this stack. Returns 0 when the iret resumed us (iret_seen_rflags then
 * holds rflags as the guest finds them after it), or the hypercall's error when it was refused.
 * Every other register comes from the frame, so the callee-saved ones are kept in memory.
 */
    .text
    .globl iret_probe
    .type iret_probe, @function
iret_probe:
    probe_save
    probe_iret
    jmp 2f                      /* refused: rax holds the error */
1:  pushfq                      /* resumed by the iret: what does rflags hold now? */
    pop %rax
    cld                         /* the frame may have set DF; the C code expects it clear */
    mov %rax, iret_seen_rflags(%rip)
    xor %eax, %eax
2:  probe_restore
    ret
    .size iret_probe, . - iret_probe

/*
 * long iret_regs_probe(struct upcall_frame *frame, uint64_t out[15]): as iret_probe, then every
 * general register as the guest finds it after the iret, in the frame's order (r15 first, rax
 * last), into out. Nothing between the resume and the pushes touches a register.
 */
    .globl iret_regs_probe
    .type iret_regs_probe, @function
iret_regs_probe:
    probe_save
    mov %rsi, regs_out(%rip)
    probe_iret
    jmp 2f                      /* refused: rax holds the error */
1:  push %rax                   /* resumed: rax (pushed first) to r15 (last), the frame's order */
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov regs_out(%rip), %rdi
    mov %rsp, %rsi
    mov $15, %ecx
    rep movsq
    xor %eax, %eax
2:  probe_restore
    ret
    .size iret_regs_probe, . - iret_regs_probe

    .bss
    .balign 8
probe_rsp:
    .quad 0
regs_out:
    .quad 0
    .globl iret_seen_rflags
iret_seen_rflags:
    .quad 0
