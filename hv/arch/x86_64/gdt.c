// SPDX-License-Identifier: MIT
// The GDT and the TSS, one of each per CPU. The TSS gives the CPU a ring-0 stack for entries from
// ring 3 and separate IST stacks for #DF, NMI and #MC, which must work even when the current stack
// is broken. A TSS descriptor is marked busy by ltr, so no two CPUs can share a GDT.
#include <moat/cpu.h>
#include <moat/ioport.h>
#include <moat/lib.h>
#include <moat/paging.h>

/* Flat segments; order fixed by syscall/sysret (cpu.h). The TSS descriptor takes two slots. */
static const uint64_t gdt_template[8] = {
    0,
    0x00af9a000000ffff, /* SEL_KCODE: 64-bit, DPL 0 */
    0x00cf92000000ffff, /* SEL_KDATA */
    0,                  /* SEL_UCODE32: sysret's layout needs the slot, never a segment (no compat mode) */
    0x00cff2000000ffff, /* SEL_UDATA: DPL 3 */
    0x00affa000000ffff, /* SEL_UCODE: 64-bit, DPL 3 */
    0,
    0,
};
static uint64_t gdt[MOAT_MAX_CPUS][8] aligned(16);

struct descriptor_ptr {
    uint16_t limit;
    uint64_t base;
} packed;

void gdt_load(struct percpu *cpu)
{
    struct tss *t = &cpu->tss; /* (struct tss: cpu.h) */
    uint64_t *g = gdt[cpu->id];
    memcpy(g, gdt_template, sizeof(gdt_template));
    memset(t, 0, sizeof(*t));
    t->ist[IST_DF - 1] = cpu->ist_top[0];
    t->ist[IST_NMI - 1] = cpu->ist_top[1];
    t->ist[IST_MC - 1] = cpu->ist_top[2];
    t->rsp[0] = cpu->kstack_top;
    t->iomap_base = offsetof(struct tss, iomap); /* every port denied until a domain holds one */
    memset(t->iomap, 0xff, sizeof(t->iomap));

    uint64_t base = (uint64_t)t, limit = sizeof(*t) - 1;
    g[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) | (((limit >> 16) & 0xf) << 48) |
                     (((base >> 24) & 0xff) << 56);
    g[SEL_TSS / 8 + 1] = base >> 32;

    struct descriptor_ptr p = {sizeof(gdt[0]) - 1, (uint64_t)g};
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "movl %2, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%ss\n\t"
                     "ltr %w3"
                     :
                     : "m"(p), "i"(SEL_KCODE), "i"(SEL_KDATA), "r"((uint16_t)SEL_TSS)
                     : "rax", "memory");
}

static bool in_boot_stacks(vaddr_t va) { return va >= (vaddr_t)kstacks_start && va < (vaddr_t)kstacks_end; }

/* Only the part smp.c has mapped (ap_stacks_end): the backtrace walker reads what this accepts. */
static bool in_ap_stacks(vaddr_t va) { return va >= AP_STACKS_BASE && va < ap_stacks_end; }

bool addr_on_kstack(vaddr_t va) { return in_boot_stacks(va) || in_ap_stacks(va); }

bool is_guard_page(vaddr_t va)
{
    /* Each stack is a guard page followed by KSTACK_SIZE bytes (stacks.S, smp.c). */
    if (in_boot_stacks(va))
        return ((va - (vaddr_t)kstacks_start) % KSTACK_UNIT) < PAGE_SIZE;
    if (in_ap_stacks(va))
        return ((va - AP_STACKS_BASE) % KSTACK_UNIT) < PAGE_SIZE;
    return false;
}

_Static_assert(__builtin_offsetof(struct tss, rsp) == TSS_RSP0, "tss_set_rsp0 (cpu.h)");

void io_bitmap_load(const uint8_t bitmap[IO_BITMAP_PORTS / 8])
{
    memcpy(this_cpu()->tss.iomap, bitmap, IO_BITMAP_PORTS / 8);
}
