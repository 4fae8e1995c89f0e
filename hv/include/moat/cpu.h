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
/* Not a hardware vector: marks a register frame saved by the syscall entry (return by sysret). */
#define VEC_SYSCALL 0x100

/* Offsets into struct percpu used by the assembly (checked by static asserts in cpu.c). */
#define PCPU_USER_RSP 0
#define PCPU_KSTACK_TOP 8
#define PCPU_CUR_REGS 16
#define PCPU_CUR_REGS_TOP 24

/* Offsets into struct cpu_regs. */
#define REGS_VECTOR (15 * 8)
#define REGS_RIP (17 * 8)
#define REGS_CS (18 * 8)
#define REGS_RFLAGS (19 * 8)
#define REGS_RSP (20 * 8)
#define REGS_SIZE (22 * 8)

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

struct domain;

/* Per-CPU state: one instance now, indexed by CPU later (SMP is a later step, not a rewrite). */
struct percpu {
    /* Read by entry code through %gs: keep these first and in this order. */
    uint64_t user_rsp;          /* the guest rsp while the syscall entry switches stacks */
    uint64_t kstack_top;        /* the hypervisor stack every guest entry starts on */
    struct cpu_regs *cur_regs;  /* the running vCPU's register frame */
    uint64_t cur_regs_top;      /* its end: where the entry code starts pushing */
    struct domain *current;     /* NULL while idle */
    uint64_t need_resched;
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
void exception_dispatch(struct cpu_regs *regs); /* called by entry.S for entries from ring 0 */
void guest_trap(struct cpu_regs *regs);          /* ... and for entries from ring 3 (never returns) */
void hypercall_entry(struct cpu_regs *regs);     /* called by syscall.S (never returns) */
void syscall_init(void);
noreturn void idt_fatal(struct cpu_regs *regs); /* the hypervisor's own fatal-exception report */
const char *exception_mnemonic(unsigned vector);
void tss_set_rsp0(uint64_t rsp0);
/* Loads the current vCPU's registers and enters ring 3 (syscall.S). Interrupts must be off. */
noreturn void return_to_guest(void);
/* Copies between hypervisor and guest memory; 0, or -XEN_EFAULT if the guest address faulted. */
long copy_user(void *dst, const void *src, size_t n);
/* If rip is a fault-tolerant guest access, where to resume with the fault reported. */
uint64_t fault_fixup(uint64_t rip);
/* Faults taken so far on guest addresses in copy_user and answered -EFAULT (printed at stop). */
extern uint64_t fault_fixups;

/* Stacks, with an unmapped guard page below each (paging.c leaves them out). */
extern char kstack_boot_top[], kstack_df_top[], kstack_nmi_top[], kstack_mc_top[];
extern char kstacks_start[], kstacks_end[];
bool is_guard_page(vaddr_t va);
bool addr_on_kstack(vaddr_t va);
#endif

#endif
