/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 entry. The loader enters in 32-bit protected mode with paging off; we build just
 * enough page tables to reach long mode and the upper half, then call hv_main() in C, which builds
 * the real (W^X) page tables. The header carries the load addresses (the "a.out kludge"), so the
 * image can be a flat binary that QEMU's -kernel and GRUB both load as is.
 */
#include <moat/apic.h>
#include <moat/config.h>
#include <moat/cpu.h>
#include <moat/multiboot.h>

#define PHYS(sym) ((sym) - KERNEL_VBASE)
#define MB_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page-aligned modules, memory map, address fields */

    .section .multiboot, "a"
    .balign 4
multiboot_header:
    .long MULTIBOOT_HEADER_MAGIC
    .long MB_FLAGS
    .long -(MULTIBOOT_HEADER_MAGIC + MB_FLAGS)
    .long multiboot_header          /* header_addr (physical: this section is linked low) */
    .long _image_start_phys         /* load_addr */
    .long _load_end_phys            /* load_end_addr */
    .long _bss_end_phys             /* bss_end_addr: the loader zeroes the BSS */
    .long _start32                  /* entry_addr */

    .section .boot.text, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    /* The first instruction count since reset: boot figures are measured from here. */
    movl %eax, %esi
    rdtsc
    movl %eax, PHYS(boot_tsc_entry)
    movl %edx, PHYS(boot_tsc_entry) + 4
    movl %esi, PHYS(boot_magic)
    movl %ebx, PHYS(boot_mbi)

    movl $PHYS(kstack_boot_top), %esp

    /* The loader zeroes the BSS, but the boot tables must be clean whatever loaded us. */
    movl $PHYS(boot_pml4), %edi
    movl $(4 * 4096 / 4), %ecx
    xorl %eax, %eax
    rep stosl

    /* Long mode needs CPUID leaf 0x80000001 EDX bit 29. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc no_long_mode

    /*
     * Boot page tables: one PD of 2 MiB pages maps physical 0-1 GiB, reachable three ways:
     * identity (to survive the switch), the direct map, and the image's upper-half window.
     */
    movl $PHYS(boot_pd), %edi
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax                  /* present, writable, 2 MiB */
    movl %eax, (%edi,%ecx,8)
    movl $0, 4(%edi,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    /* And the 2 MiB page of the local APIC at its default address, uncached, for the timer
     * calibration that starts before paging_init maps it (timer.c). */
    movl $(LAPIC_DEFAULT_BASE | 0x9b), PHYS(boot_pd_apic) + ((LAPIC_DEFAULT_BASE >> 21) & 511) * 8
    movl $PHYS(boot_pd_apic) + 0x3, %eax
    movl %eax, PHYS(boot_pdpt_low) + (LAPIC_DEFAULT_BASE >> 30) * 8

    movl $PHYS(boot_pd) + 0x3, %eax
    movl %eax, PHYS(boot_pdpt_low)                  /* 0-1 GiB */
    movl %eax, PHYS(boot_pdpt_high) + 510 * 8       /* 0xffffffff80000000 */
    movl $PHYS(boot_pdpt_low) + 0x3, %eax
    movl %eax, PHYS(boot_pml4)                      /* identity */
    movl %eax, PHYS(boot_pml4) + 256 * 8            /* DIRECTMAP_BASE */
    movl $PHYS(boot_pdpt_high) + 0x3, %eax
    movl %eax, PHYS(boot_pml4) + 511 * 8

    movl %cr4, %eax
    orl $0x20, %eax                  /* CR4.PAE */
    movl %eax, %cr4
    movl $PHYS(boot_pml4), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx           /* EFER: long mode; NX is enabled later, once CPUID says so */
    rdmsr
    orl $(1 << 8), %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax            /* PG, WP, PE */
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $SEL_KCODE, $start64_low

no_long_mode:
    /* Say why on COM1 (polled, no init needed under QEMU and most firmware), then stop. */
    movl $msg_no_lm, %esi
2:  lodsb
    testb %al, %al
    jz 3f
    movw $0x3f8, %dx
    outb %al, %dx
    jmp 2b
3:  movb $1, %al
    outb %al, $0xf4
4:  hlt
    jmp 4b

    .code64
start64_low:
    movabs $start64_high, %rax
    jmp *%rax

    .section .boot.rodata, "a"
    .balign 8
    /* The accessed bits are preset: otherwise the CPU sets them in memory when it loads the
     * segments, and the image would no longer be what the loader loaded (it is measured later). */
boot_gdt:
    .quad 0
    .quad 0x00af9b000000ffff         /* 0x08: 64-bit kernel code */
    .quad 0x00cf93000000ffff         /* 0x10: kernel data */
boot_gdt_end:
    .balign 8
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
msg_no_lm:
    .asciz "moat: this CPU has no long mode (x86-64); cannot boot\n"

    .text
    .code64
start64_high:
    movl $SEL_KDATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movabs $kstack_boot_top, %rsp
    xorl %ebp, %ebp
    movl boot_magic(%rip), %edi
    movl boot_mbi(%rip), %esi
    call hv_main
5:  cli
    hlt
    jmp 5b

    /* In the BSS, not the data section: the measured launch hashes the image as loaded (the
     * multiboot load range, build/hv/moat.bin) after this code ran, so nothing here may write it. */
    .section .bss, "aw", @nobits
    .balign 8
    .globl boot_tsc_entry
boot_tsc_entry: .skip 8
boot_magic: .skip 4
boot_mbi: .skip 4

    .section .bss.pagetables, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4: .skip 4096
boot_pdpt_low: .skip 4096
boot_pdpt_high: .skip 4096
boot_pd: .skip 4096
boot_pd_apic: .skip 4096
