/* SPDX-License-Identifier: MIT */
/*
 * What hv/core/ asks of the architecture, and the x86-64 answers. core/ names no x86 detail
 * (control registers, the TSS, segment selectors, page-table bits, MSRs, port I/O, the register
 * file, vectors): it calls these (tests/tools/test_c_style.py checks it). Inline where a hot path
 * runs them, so the names cost no instruction.
 */
#ifndef MOAT_ARCH_H
#define MOAT_ARCH_H

#include <moat/apic.h>
#include <moat/cpu.h>
#include <moat/domain.h>
#include <moat/ioport.h>
#include <moat/paging.h>
#include <moat/serial.h>
#include <moat/smp.h>
#include <moat/types.h>
#include <moat/x86.h>
#include <moat/xsave.h>

/* ---- bring-up (hv_main) ---- */

/* The boot CPU: its GDT and TSS, the IDT, its protections (NX, SMEP, SMAP, UMIP); the `cpu:` line. */
void arch_init_boot_cpu(void);
/* Once memory is managed: extended state, the local APIC, the tick, the syscall entry, the APs. */
void arch_init_late(void);

/* ---- the compiler ---- */

/* Makes the compiler take x as computed right here (an empty asm statement: no instruction), so
 * that it keeps x in a register instead of folding x's computation into each of its later uses. */
#define arch_compute_once(x) __asm__("" : "+r"(x))

/* ---- firmware ---- */

/* The firmware's description table signed sig (ACPI: "TPM2"), checked; NULL if there is none. */
const uint8_t *arch_firmware_table(const char sig[4], uint32_t *len);

/* ---- time and idling ---- */

/* A free-running cycle counter (the TSC; under QEMU's -icount it counts instructions). */
static inline uint64_t arch_cycles(void) { return rdtsc(); }
static inline void arch_irq_disable(void) { cli(); }
/* Enables interrupts and waits for one, with no window between the two (an idle CPU). */
static inline void arch_idle(void) { sti_halt(); }

/* ---- mappings ---- */

/* Attributes of a page mapping (gpt_map, paging_map_page); without any: read-only, executable. */
#define MAP_WRITABLE PTE_W
#define MAP_NOEXEC PTE_NX
#define MAP_UNCACHED (PTE_PCD | PTE_PWT)

/* The frame a leaf entry (gpt_lookup, paging_lookup) maps, and whether it maps it writable. */
static inline mfn_t pte_mfn(uint64_t pte) { return (pte & PTE_ADDR_MASK) >> PAGE_SHIFT; }
static inline bool pte_writable(uint64_t pte) { return (pte & PTE_W) != 0; }

/* Makes root (a top-level page table's address; 0: the hypervisor's own) this CPU's address space,
 * if it is not already. percpu.loaded_pml4 says which guest's tables a CPU may cache (TLB shootdown). */
static inline void arch_switch_address_space(struct percpu *cpu, paddr_t root)
{
    if (cpu->loaded_pml4 != root) {
        write_cr3(root ? root : paging_root());
        cpu->loaded_pml4 = root;
    }
}

/* Leaves the CPU as a time partition found it (sched_partition.c): no guest's extended state in
 * the registers and the hypervisor's own page tables loaded, so whoever ran last cannot make the
 * next partition's entry take a shorter or longer path. */
static inline void arch_release_cpu(void)
{
    xsave_release();
    arch_switch_address_space(this_cpu(), 0);
}

/* Does CPU p hold anything of d: its page tables in CR3, its extended state in the registers? */
static inline bool arch_cpu_holds(const struct percpu *p, const struct domain *d)
{
    return p->loaded_pml4 == d->pml4_addr || (p->fpu_owner && p->fpu_owner->domain == d);
}

/* Drops what this CPU holds of a dying d: the hypervisor's tables back in CR3, d's extended
 * state forgotten (not saved: the domain is going). */
static inline void arch_cpu_forget(struct percpu *cpu, const struct domain *d)
{
    if (cpu->loaded_pml4 == d->pml4_addr)
        arch_switch_address_space(cpu, 0);
    if (cpu->fpu_owner && cpu->fpu_owner->domain == d)
        cpu->fpu_owner = NULL;
}

/* ---- other CPUs ---- */

/* Makes CPU p look at its run queue: a halted CPU wakes, one running a guest enters the hypervisor. */
static inline void arch_kick_cpu(const struct percpu *p) { apic_send_ipi(p->apic_id, VEC_IPI_WAKE); }
static inline void arch_kick_other_cpus(void) { apic_send_ipi_allbutself(VEC_IPI_WAKE); }

/* ---- vCPUs ---- */

/* The vCPU's architectural state beyond its registers: its extended-state area (xsave.c). */
static inline bool arch_vcpu_init(struct vcpu *v) { return xsave_vcpu_init(v); }
static inline void arch_vcpu_destroy(struct vcpu *v) { xsave_vcpu_free(v); }

/* A new vCPU's registers: ring 3 at entry, on stack, with arg as its first argument (rdi),
 * interrupts on; entered by iret, so every register is as set here. */
static inline void arch_vcpu_start(struct cpu_regs *r, uint64_t entry, uint64_t stack, uint64_t arg)
{
    r->rip = entry;
    r->rsp = stack;
    r->rdi = arg;
    r->cs = SEL_UCODE | 3;
    r->ss = SEL_UDATA | 3;
    r->rflags = RFLAGS_IF | 2;
    r->vector = VEC_TIMER; /* not VEC_SYSCALL: return_to_guest leaves by iretq */
}

/* A VCPUOP_initialise context (public/vcpu.h) in the terms of arch_vcpu_start. */
static inline void arch_vcpu_context(const struct vcpu_guest_context *c, uint64_t *entry, uint64_t *stack,
                                     uint64_t *arg, uint64_t *callback)
{
    *entry = c->rip;
    *stack = c->rsp;
    *arg = c->rdi;
    *callback = c->callback_rip;
}

/* Where the vCPU's stack pointer is (for messages). */
static inline uint64_t arch_vcpu_stack(const struct vcpu *v) { return v->regs.rsp; }

/* next's register frame is the one this CPU's guest entries save into (the TSS's rsp0 points past
 * it), and its address space is loaded. */
static inline __attribute__((always_inline)) void arch_switch_frame(struct percpu *cpu, struct vcpu *next)
{
    /* A domain's tables, by the address CR3 takes (kept in the domain so that no switch shifts the
     * mfn): never 0, which names the hypervisor's. */
    paddr_t root = next->domain->pml4_addr;
    tss_set_rsp0(cpu, (uint64_t)(&next->regs + 1)); /* (a byte copy: root is read before it) */
    if (cpu->loaded_pml4 != root) {
        write_cr3(root);
        cpu->loaded_pml4 = root;
    }
}

/*
 * Makes next's vCPU the one this CPU enters: its register frame and address space
 * (arch_switch_frame), its extended state (eagerly: the previous owner's is saved, xsave.c).
 * False, and *why, if next's saved extended state was refused.
 */
static inline bool arch_switch_to(struct percpu *cpu, struct vcpu *next, const char **why)
{
    arch_switch_frame(cpu, next);
    return xsave_switch(cpu, next, why);
}

/* Can this machine take arch_switch_plain at all (the extended state's fast path is on: one CPU,
 * XSAVEOPT, not the debug build)? Asked once, when scheduling starts: nothing changes it later. */
static inline bool arch_switch_plain_on(void) { return xsave_fast.on; }

/* Given arch_switch_plain_on: may arch_switch_plain switch from prev, the vCPU this CPU ran last,
 * to next? (prev's extended state is the one in the registers, next's has a valid MXCSR.) */
static inline bool arch_switch_plain_ok(const struct percpu *cpu, const struct vcpu *prev, const struct vcpu *next)
{
    return xsave_switch_plain(cpu, prev, next);
}

/*
 * arch_switch_to from prev, when arch_switch_plain_ok said so: no call and nothing tested on the
 * way without a fault. False if the CPU refused next's extended state: the registers then have no
 * owner (prev's state is saved), and the caller finishes with arch_switch_to's slow part
 * (arch_switch_refused).
 */
static inline __attribute__((always_inline)) bool arch_switch_plain(struct percpu *cpu, struct vcpu *prev,
                                                                    struct vcpu *next)
{
    arch_switch_frame(cpu, next);
    return xsave_switch_from(cpu, prev, next);
}

/* After arch_switch_plain returned false: the extended state's slow path decides (false and
 * *why: next's state is refused). */
static inline bool arch_switch_refused(struct vcpu *next, const char **why) { return xsave_switch_slow(next, why); }

/* ---- hypercalls: the number in rax, the arguments in rdi, rsi, rdx, r10, r8, the result in rax ---- */

struct hypercall_args {
    uint64_t nr;
    uint64_t arg[5];
};

static inline struct hypercall_args arch_hypercall_args(const struct cpu_regs *r)
{
    return (struct hypercall_args){r->rax, {r->rdi, r->rsi, r->rdx, r->r10, r->r8}};
}
static inline void arch_hypercall_return(struct cpu_regs *r, long ret) { r->rax = (uint64_t)ret; }

/* ---- event upcalls (upcall.c): the interrupted context as a struct upcall_frame (public/hv.h) ---- */

/* Pushes v's context onto its guest stack and points it at its callback (v->callback_rip); false
 * if the stack is bad. */
bool arch_upcall_push(struct vcpu *v);
/* Whether a push of v's frame would be tried at all (the range test of arch_upcall_push): for the
 * report of one that failed, which says whether the range was refused or a store faulted. */
bool arch_upcall_frame_in_range(const struct vcpu *v);
/* The iret hypercall: restores v's context from the frame at guest address frame; 0 and *ret (what
 * the hypercall returns, so the context's rax comes back exactly), or -XEN_EFAULT / -XEN_EINVAL. */
long arch_upcall_pop(struct vcpu *v, uint64_t frame, long *ret);

/* ---- memory ---- */

/* Zeroes one 4 KiB page: one rep stosq of 512 quadwords. Inline for the allocator's runs of
 * frames (frame_alloc_run), where a call a page would cost the loop its registers; clear_page
 * (moat/lib.h) is this out of line. The page is the only memory it writes. */
static inline void arch_clear_page(void *page)
{
    size_t words = PAGE_SIZE / 8;
    __asm__ volatile("rep stosq" : "+D"(page), "+c"(words), "=m"(*(char(*)[PAGE_SIZE])page) : "a"(0UL));
}

#endif
