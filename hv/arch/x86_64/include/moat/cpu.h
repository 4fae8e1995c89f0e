/* SPDX-License-Identifier: MIT */
/* Per-CPU state, descriptor tables and the saved-register frame of an interrupt or exception. */
#ifndef MOAT_CPU_H
#define MOAT_CPU_H

#include <moat/config.h>

/* Segment selectors. The order is the one syscall/sysret need (see DESIGN section 4). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UCODE32 0x18 /* an empty slot: sysret needs it there, no guest may use it (gdt.c) */
#define SEL_UDATA 0x20
#define SEL_UCODE 0x28
#define SEL_TSS 0x30

#define IST_DF 1
#define IST_NMI 2
#define IST_MC 3

#define VEC_TIMER 0xf0
#define VEC_IPI_WAKE 0xf1 /* does nothing but end a hlt (the next round's remote wake-up) */
#define VEC_IPI_CALL 0xf2 /* run the function in this CPU's call mailbox (smp_call) */
#define VEC_IPI_STOP 0xf3 /* the machine is stopping: halt for good */
#define VEC_SPURIOUS 0xff
/* Not a hardware vector: marks a register frame saved by the syscall entry (return by sysret). */
#define VEC_SYSCALL 0x100

/* percpu.need_resched bits: pick another domain; the tick's scheduler work is due (sched.c). */
#define RESCHED_SWITCH 1u
#define RESCHED_TICK 2u
/*
 * Not the scheduler's: set by a handler that rewrote current's register frame (the iret hypercall:
 * another rip, rsp and flags, and a return by iretq) when the syscall fast path runs it. That path
 * then may not sysret directly: its test of the word sends it the checked way, and the way out
 * clears this bit before the scheduler reads the word (sched.c's exit_resched_general; the plain
 * switch takes only a word that is RESCHED_SWITCH alone), so pick_next never sees it.
 */
#define RESCHED_FRAME 4 /* (no u suffix: syscall.S uses it, and not every assembler takes one) */
/*
 * Not the scheduler's either: current was taken from this CPU (set NULL) inside a hypercall or
 * while a guest ran, by sched.c's evict (its domain destroyed) or deschedule (paused from another
 * CPU); always with RESCHED_SWITCH. It makes the word something other than RESCHED_SWITCH alone,
 * so the plain switch's one compare of the word also tells it current is not NULL; pick_next
 * clears it with the rest of the word (a switch sets current again).
 */
#define RESCHED_NO_CURRENT 8u

/* Offsets into struct percpu used by the assembly (checked by static asserts in cpu.c). */
#define PCPU_USER_RSP 0
#define PCPU_KSTACK_TOP 8
#define PCPU_SELF 16
#define PCPU_CURRENT 24 /* also its register frame: a vCPU's first member (VCPU_* below) */
#define PCPU_NEED_RESCHED 32
/* Its TSS's rsp0 (struct percpu's tss, TSS_RSP0 into it): the end of the running vCPU's frame,
 * where the syscall entry starts pushing as an interrupt from ring 3 does. */
#define PCPU_TSS_RSP0 224

/* Slots of the hypercall table the syscall fast path indexes (MOAT_NR_HYPERCALLS, asserted in cpu.c). */
#define HYPERCALL_SLOTS 48

/* Offsets into struct cpu_regs. */
#define REGS_RBX (13 * 8)
#define REGS_RAX (14 * 8)
#define REGS_VECTOR (15 * 8)
#define REGS_RIP (17 * 8)
#define REGS_CS (18 * 8)
#define REGS_RFLAGS (19 * 8)
#define REGS_RSP (20 * 8)
#define REGS_SIZE (22 * 8)
/* In struct vcpu, whose first member is its struct cpu_regs (the frame): its hypercalls pointer
 * (its domain's counters) and its vcpu_info pointer, after the frame and the domain pointer
 * (checked in cpu.c). The syscall fast path reaches both through the frame. */
#define VCPU_HYPERCALLS (REGS_SIZE + 8)
#define VCPU_VCPU_INFO (REGS_SIZE + 16)

#ifndef __ASSEMBLER__
#include <moat/ioport.h>
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
struct vcpu;

/* The 64-bit TSS (gdt.c loads it), one per CPU, inside its struct percpu: the switch sets rsp0
 * through %gs's struct without a pointer to follow, and the syscall entry reads its stack there. */
struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
    /* I/O permission bitmap for ports below IO_BITMAP_PORTS (a set bit denies; ports above the
     * TSS limit are denied too), then the all-ones byte the CPU may read past its end. */
    uint8_t iomap[IO_BITMAP_PORTS / 8 + 1];
} packed;

/* What an IPI asks a CPU to run (smp.c): fn(arg) in interrupt context, then done = seq. */
struct smp_call {
    void (*fn)(void *arg);
    void *arg;
    uint64_t seq;  /* raised by the caller for each request */
    uint64_t done; /* set to seq by the target when fn returned */
};

/*
 * Per-CPU state: one struct per CPU, reached through %gs (the GS base of every CPU points at its
 * own; this_cpu() reads the self pointer there). Fields read by assembly come first, in this order.
 */
struct percpu {
    uint64_t user_rsp;          /* the syscall entries' scratch: the guest's rsp (C path), or its rbx until the way out (fast path) */
    uint64_t kstack_top;        /* the hypervisor stack every guest entry starts on */
    struct percpu *self;        /* this very struct: this_cpu() */
    struct vcpu *current;       /* the vCPU it runs; NULL while idle */
    /*
     * need_resched (RESCHED_*): the way out must do more than re-enter current. Beside it,
     * switch_general: not 0 when this CPU may not take the plain switch (sched.c's
     * sched_plain_ports: 0 only for the boot CPU with one CPU, no partitions, the extended
     * state's fast path and no device's I/O ports open). The plain switch reads both as one word
     * (resched_word), which is RESCHED_SWITCH exactly when its case holds: one compare for the
     * work word, the flag and, by RESCHED_NO_CURRENT, current.
     */
    union {
        struct {
            uint32_t need_resched;
            uint32_t switch_general;
        };
        uint64_t resched_word;
    };
    unsigned id;                /* CPU index: 0 is the boot CPU, then the MADT's order */
    uint32_t apic_id;           /* its local APIC's id (the target of IPIs) */
    uint64_t ticks;             /* timer interrupts seen */
    uint64_t irq_count;
    bool in_fatal_exception;    /* a fault inside the fault handler stops at once */
    bool online;                /* set by the CPU itself once it is fully up (smp.c) */
    uint64_t ist_top[3];        /* its #DF, NMI and #MC stacks */
    struct vcpu *fpu_owner;     /* whose extended state (FPU/SSE/AVX) is in its registers (xsave.c) */
    struct smp_call call;       /* the VEC_IPI_CALL mailbox */
    uint64_t ipis;              /* IPIs received (any of ours) */
    /* Scheduling (sched.c): set by the tick handler, consumed under the hypervisor lock. */
    bool woken;                 /* a VEC_IPI_WAKE came: another CPU queued work for this one */
    bool in_hypercall;          /* between a hypercall's entry and the exit: its frame is not resumable */
    uint64_t run_start_tsc;     /* when current started running (CPU time accounting) */
    paddr_t loaded_pml4;        /* the guest page tables in its CR3 (their address), 0 = the hypervisor's (TLB shootdown) */
    /* Locks (hvlock.c): the ranks this CPU holds (the debug build checks the order), and the
     * hypervisor lock's figures, printed at stop. */
    uint32_t locks_held;
    uint64_t hv_lock_taken, hv_lock_contended, hv_lock_wait_tsc;
    uint64_t hv_lock_halts, hv_lock_kicks; /* times a waiter came to halt; wake-ups sent to such waiters */
    bool hv_lock_halted;        /* halts (or is about to) waiting for the lock, for ticket hv_lock_ticket */
    uint16_t hv_lock_ticket;
    struct tss tss; /* last: the hot fields above stay together */
};

extern struct percpu percpus[MOAT_MAX_CPUS];
extern struct cpu_features cpu_features;
/*
 * This CPU's struct percpu. Not volatile: it never changes while this CPU runs hypervisor code,
 * so the compiler may load it once per function. Only code that runs after the CPU's GS base is
 * set may call it (hv_main and ap_main name their percpu directly before that).
 */
static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__("movq %%gs:%c1, %0" : "=r"(p) : "i"(PCPU_SELF));
    return p;
}
/*
 * this_cpu()->current in one load instead of two (every hypercall handler that names its caller
 * reads it). Unlike this_cpu() it does change (the scheduler writes it): volatile, with a memory
 * clobber, so that it is read where it is written in the source, after any store before it.
 */
static inline struct vcpu *this_cpu_current(void)
{
    struct vcpu *v;
    __asm__ volatile("movq %%gs:%c1, %0" : "=r"(v) : "i"(PCPU_CURRENT) : "memory");
    return v;
}
/* this_cpu()->need_resched |= bits, in one instruction (the yield asks the way out for a switch
 * without loading this CPU's percpu pointer first). */
static inline void this_cpu_resched(uint32_t bits)
{
    __asm__ volatile("orl %1, %%gs:%c0" ::"i"(PCPU_NEED_RESCHED), "ri"(bits) : "memory", "cc");
}
/* this_cpu()->need_resched != 0, by one compare and its branch through %gs (GCC 12 loads the
 * 32-bit field into a register to test it where the percpu pointer dies, and keeps a flag output
 * in a register: an instruction more on every trap's exit). asm goto is volatile, with a memory
 * clobber: read where it is written in the source (after the cli). */
static inline bool this_cpu_resched_pending(void)
{
    __asm__ goto("cmpl $0, %%gs:%c0\n\tjne %l[pending]" ::"i"(PCPU_NEED_RESCHED) : "memory", "cc" : pending);
    return false;
/* cppcheck-suppress unusedLabel ; the asm goto's target (cppcheck does not read asm goto) */
pending:
    return true;
}
/* cpu->need_resched = 0 by one store of the constant (GCC 12 zeroes a register for it and stores
 * that: an instruction more in the plain switch). Only the work word: switch_general beside it is
 * kept. */
static inline void percpu_resched_clear(struct percpu *cpu)
{
    __asm__("movl $0, %0" : "=m"(cpu->need_resched));
}
/* The boot CPU's GS base and percpu: the first thing hv_main does (this_cpu() needs it). */
void percpu_init_boot_cpu(void);
/* The percpu of this CPU found without trusting GS (the fatal path: GS may be the guest's). */
struct percpu *this_cpu_careful(void);

/* Boot CPU: finds the features and switches on the protections (NX, SMEP, SMAP, UMIP, extended state). */
void cpu_detect_and_enable(void);
/* An AP: the same CR0/CR4/EFER/XCR0 as the boot CPU; false (and nothing changed) if it lacks one. */
bool cpu_enable_on_ap(void);
/* Loads this CPU's own GDT and TSS (its rsp0 and IST stacks come from its percpu). */
void gdt_load(struct percpu *cpu);
void idt_init(void); /* builds the IDT (shared by every CPU), loads it, masks the PICs */
void idt_load(void); /* an AP: loads the same IDT */
typedef void (*irq_handler_t)(struct cpu_regs *regs);
void idt_set_irq_handler(uint8_t vector, irq_handler_t handler);
void exception_dispatch(struct cpu_regs *regs); /* called by entry.S for entries from ring 0 */
void guest_trap(struct cpu_regs *regs);          /* ... and for entries from ring 3 (never returns) */
void syscall_init(void); /* the syscall MSRs of this CPU */
/* Points this CPU's syscall entry at the fast path or the C path, by hypercall_fast. */
void arch_hypercall_entry_select(void);
noreturn void idt_fatal(struct cpu_regs *regs); /* the hypervisor's own fatal-exception report */
const char *exception_mnemonic(unsigned vector);
/* Where the TSS keeps rsp0 (the stack an interrupt from ring 3 starts on): gdt.c checks it. */
#define TSS_RSP0 4
/* Sets this CPU's rsp0. Inline, as every switch does it: one store (the field is unaligned, as
 * the TSS layout has it, hence the memcpy, which compiles to a single move). */
static inline void tss_set_rsp0(struct percpu *cpu, uint64_t rsp0)
{
    __builtin_memcpy((char *)&cpu->tss + TSS_RSP0, &rsp0, sizeof(rsp0));
}
/* Loads the current vCPU's registers and enters ring 3 (syscall.S). Interrupts must be off. */
noreturn void return_to_guest(void);
/* Copies between hypervisor and guest memory; 0, or -XEN_EFAULT if the guest address faulted. */
long copy_user(void *dst, const void *src, size_t n);
/* If rip is a fault-tolerant guest access, where to resume with the fault reported. */
uint64_t fault_fixup(uint64_t rip);
/*
 * For inline assembly: registers "the instruction at label `ip` may fault on a guest address;
 * resume at label `fixup`" (two local labels of the same asm statement) in a section of pairs that
 * fault_fixup also searches, so an inlined access needs no global symbol and no call.
 */
#define FIXUP_ENTRY(ip, fixup) ".pushsection .rodata.moat_fixups, \"a\"\n\t.quad " ip ", " fixup "\n\t.popsection\n\t"
/* Faults taken so far on guest addresses in copy_user and answered -EFAULT (printed at stop). */
extern uint64_t fault_fixups;

/*
 * Stacks, with an unmapped guard page below each: the boot CPU's in the image (paging.c leaves
 * the guards out), the APs' in AP_STACKS_BASE (smp.c maps only the stacks).
 */
extern char kstack_boot_top[], kstack_df_top[], kstack_nmi_top[], kstack_mc_top[];
extern char kstacks_start[], kstacks_end[];
bool is_guard_page(vaddr_t va);
bool addr_on_kstack(vaddr_t va);
/* Where AP cpu's stacks lie: [guard, stack] four times (kernel, #DF, NMI, #MC); see paging.h. */
#define KSTACK_UNIT (PAGE_SIZE + KSTACK_SIZE)
#define AP_STACKS_PER_CPU 4
extern vaddr_t ap_stacks_end; /* the end of the AP stacks mapped so far */
#endif

#endif
