/* SPDX-License-Identifier: MIT */
/*
 * The AP trampoline. The startup IPI starts an AP in real mode at TRAMPOLINE_PA (CS = page, IP =
 * 0), so smp.c copies this code there, fills in its data (the transition page tables, EFER bits)
 * and sends the SIPIs. Each AP: marks itself alive (by its initial APIC id), enters protected
 * mode, then long mode through the transition tables (the trampoline identity-mapped, the
 * hypervisor's upper half shared), and jumps to ap_entry64 in the upper half, which switches to
 * the hypervisor's own page tables, finds its stack by APIC id and calls ap_main.
 *
 * The code runs at a different address than it is linked at (it is assembled into .rodata and
 * only ever executed from the copy): TR() turns a label into its address in the copy.
 */
#include <moat/cpu.h>
#include <moat/smp.h>

#define TR(x) (TRAMPOLINE_PA + ((x) - trampoline_start))
#define TR_SEL_CODE32 0x08
#define TR_SEL_DATA 0x10
#define TR_SEL_CODE64 0x18

    .section .rodata, "a"
    .balign 16
    .globl trampoline_start
trampoline_start:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    /* Alive: tr_alive[initial APIC id] = 1, so the boot CPU sends no second SIPI. */
    movl $1, %eax
    cpuid
    shrl $24, %ebx
    movb $1, (tr_alive - trampoline_start)(%bx)
    lgdtl (tr_gdt_ptr - trampoline_start)
    movl %cr0, %eax
    orl $1, %eax                          /* PE */
    movl %eax, %cr0
    ljmpl $TR_SEL_CODE32, $TR(tr32)

    .code32
tr32:
    movl $TR_SEL_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $0x20, %eax                       /* PAE */
    movl %eax, %cr4
    movl TR(tr_cr3), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx                /* EFER: long mode, and NX as the boot CPU has it */
    rdmsr
    orl TR(tr_efer), %eax
    wrmsr
    movl %cr0, %eax
    andl $0x9fffffff, %eax                /* caches on: clear CD and NW (set by INIT) */
    orl $0x80000001, %eax                 /* PG, PE */
    movl %eax, %cr0
    ljmpl $TR_SEL_CODE64, $TR(tr64)

    .code64
tr64:
    movabsq $ap_entry64, %rax
    jmp *%rax

    .balign 8
tr_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff              /* 0x08: 32-bit code */
    .quad 0x00cf92000000ffff              /* 0x10: data */
    .quad 0x00af9a000000ffff              /* 0x18: 64-bit code */
tr_gdt_end:
    .balign 8
tr_gdt_ptr:
    .word tr_gdt_end - tr_gdt - 1
    .long TR(tr_gdt)
    .balign 4
tr_cr3: .long 0                           /* the transition PML4 (below 4 GiB: loaded in 32-bit mode) */
tr_efer: .long 0
tr_alive: .skip 256                       /* one byte per initial APIC id */
trampoline_end:

    /* Where smp.c finds things in its copy of the trampoline: offsets from its start, computed
     * here (C may not subtract the addresses of two different objects). */
    .balign 8
    .globl trampoline_layout
trampoline_layout:
    .quad trampoline_end - trampoline_start  /* size */
    .quad tr_cr3 - trampoline_start
    .quad tr_efer - trampoline_start
    .quad tr_alive - trampoline_start

    .text
    .code64
    /* In the upper half, still on the transition tables; ebx = the initial APIC id. */
    .globl ap_entry64
ap_entry64:
    movq ap_boot_cr3(%rip), %rax
    movq %rax, %cr3
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movl %ebx, %ebx
    leaq ap_boot_table(%rip), %rsi
    movl ap_boot_count(%rip), %ecx
1:  testl %ecx, %ecx
    jz 3f
    cmpl %ebx, (%rsi)                     /* struct ap_boot: apic_id, cpu, stack_top */
    je 2f
    addq $16, %rsi
    decl %ecx
    jmp 1b
2:  movq 8(%rsi), %rsp
    movl 4(%rsi), %edi
    xorl %ebp, %ebp
    call ap_main
3:  cli                                   /* not an AP we started: stay out of the way */
    hlt
    jmp 3b
