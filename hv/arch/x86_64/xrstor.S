/* SPDX-License-Identifier: MIT */
/*
 * Restoring a vCPU's extended state (xsave.c). The CPU refuses a malformed area with #GP; each
 * restore instruction has a fixup (cpu.c's table), so a refused state makes the call return -1
 * and the vCPU's domain is killed instead of the machine stopping.
 */
    .text

    /*
     * xrstor_call: area in rdi, the mask already split in edx:eax as xrstor wants it; 0 in rax,
     * or -1 if refused. It changes rax and nothing else, which its caller (xrstor_checked in
     * moat/xsave.h, an asm call) tells the compiler, so the switch keeps its registers across it
     * and reuses the edx:eax its xsaveopt loaded.
     */
    .globl xrstor_call
xrstor_call:
    .globl xrstor_fault_ip
xrstor_fault_ip:
    xrstor64 (%rdi)
    xorl %eax, %eax
    ret
    .globl xrstor_fixup
xrstor_fixup:
    movq $-1, %rax
    ret

    /* long xrstors_checked(const void *area, uint64_t mask) */
    .globl xrstors_checked
xrstors_checked:
    movq %rsi, %rax
    movq %rsi, %rdx
    shrq $32, %rdx
    .globl xrstors_fault_ip
xrstors_fault_ip:
    xrstors64 (%rdi)
    xorl %eax, %eax
    ret
    .globl xrstors_fixup
xrstors_fixup:
    movq $-1, %rax
    ret

    /* long fxrstor_checked(const void *area) */
    .globl fxrstor_checked
fxrstor_checked:
    .globl fxrstor_fault_ip
fxrstor_fault_ip:
    fxrstor64 (%rdi)
    xorl %eax, %eax
    ret
    .globl fxrstor_fixup
fxrstor_fixup:
    movq $-1, %rax
    ret
