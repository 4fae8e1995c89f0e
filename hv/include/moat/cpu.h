/* SPDX-License-Identifier: MIT */
/* Per-CPU state, descriptor tables and the saved-register frame of an interrupt or exception. */
#ifndef MOAT_CPU_H
#define MOAT_CPU_H

#include <moat/config.h>

/* Segment selectors. The order is the one syscall/sysret need (see DESIGN section 4). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA 0x20
#define SEL_UCODE 0x28
#define SEL_TSS 0x30

#define IST_DF 1
#define IST_NMI 2
#define IST_MC 3

#define VEC_TIMER 0xf0
#define VEC_SPURIOUS 0xff

#ifndef __ASSEMBLER__
#include <moat/types.h>

/* Layout pushed by entry.S; keep in sync with it. */
struct cpu_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss; /* the hardware frame */
};

struct cpu_features {
    bool smep, smap, nx, umip, pge, syscall;
};

/* Per-CPU state: one instance now, indexed by CPU later (SMP is a later step, not a rewrite). */
struct percpu {
    unsigned id;
    uint64_t ticks;           /* timer interrupts seen */
    uint64_t irq_count;
    bool in_fatal_exception;  /* a fault inside the fault handler stops at once */
};

extern struct percpu percpu0;
extern struct cpu_features cpu_features;
static inline struct percpu *this_cpu(void) { return &percpu0; }

void cpu_detect_and_enable(void);
void gdt_init(void);
void idt_init(void);
typedef void (*irq_handler_t)(struct cpu_regs *regs);
void idt_set_irq_handler(uint8_t vector, irq_handler_t handler);
void exception_dispatch(struct cpu_regs *regs); /* called by entry.S */

/* Stacks, with an unmapped guard page below each (paging.c leaves them out). */
extern char kstack_boot_top[], kstack_df_top[], kstack_nmi_top[], kstack_mc_top[];
extern char kstacks_start[], kstacks_end[];
bool is_guard_page(vaddr_t va);
bool addr_on_kstack(vaddr_t va);
#endif

#endif
