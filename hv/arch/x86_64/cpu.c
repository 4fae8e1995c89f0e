// SPDX-License-Identifier: MIT
// CPU features: find out what the CPU offers and switch on the protections we rely on
// (NX, SMEP, SMAP, UMIP, global pages) when it has them.
#include <moat/console.h>
#include <moat/cpu.h>
#include <moat/x86.h>

struct cpu_features cpu_features;
struct percpu percpu0;

void cpu_detect_and_enable(void)
{
    uint32_t a, b, c, d, max;
    cpuid(0, 0, &max, &b, &c, &d);
    cpuid(1, 0, &a, &b, &c, &d);
    cpu_features.pge = d & (1u << 13);
    if (max >= 7) {
        cpuid(7, 0, &a, &b, &c, &d);
        cpu_features.smep = b & (1u << 7);
        cpu_features.smap = b & (1u << 20);
        cpu_features.umip = c & (1u << 2);
    }
    cpuid(0x80000001, 0, &a, &b, &c, &d);
    cpu_features.nx = d & (1u << 20);
    cpu_features.syscall = d & (1u << 11);

    if (cpu_features.nx)
        wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    uint64_t cr4 = read_cr4();
    if (cpu_features.pge)
        cr4 |= CR4_PGE;
    if (cpu_features.smep)
        cr4 |= CR4_SMEP;
    if (cpu_features.smap)
        cr4 |= CR4_SMAP;
    if (cpu_features.umip)
        cr4 |= CR4_UMIP;
    write_cr4(cr4);
    write_cr0(read_cr0() | CR0_WP);
}

/* The entry code reads these through %gs; the offsets are fixed in cpu.h. */
_Static_assert(__builtin_offsetof(struct percpu, user_rsp) == PCPU_USER_RSP, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, kstack_top) == PCPU_KSTACK_TOP, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, cur_regs) == PCPU_CUR_REGS, "percpu layout");
_Static_assert(__builtin_offsetof(struct percpu, cur_regs_top) == PCPU_CUR_REGS_TOP, "percpu layout");
_Static_assert(sizeof(struct cpu_regs) == REGS_SIZE, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, vector) == REGS_VECTOR, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rip) == REGS_RIP, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, cs) == REGS_CS, "cpu_regs layout");
_Static_assert(__builtin_offsetof(struct cpu_regs, rsp) == REGS_RSP, "cpu_regs layout");

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102

/* Read by copy_user in syscall.S: stac/clac are only legal when the CPU has SMAP. */
uint8_t smap_enabled;

extern char syscall_entry[], copy_user_fault_ip[], copy_user_fixup[];

void syscall_init(void)
{
    struct percpu *cpu = this_cpu();
    cpu->kstack_top = (uint64_t)kstack_boot_top;
    smap_enabled = cpu_features.smap;

    /* In the hypervisor GS points at the per-CPU block; swapgs trades it for the guest's (0). */
    wrmsr(MSR_GS_BASE, (uint64_t)cpu);
    wrmsr(MSR_KERNEL_GS_BASE, 0);
    /* sysret: CS = base + 16, SS = base + 8 (cpu.h); syscall: CS = SEL_KCODE, SS = SEL_KDATA. */
    wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    /* Entered with interrupts off, no single-step, DF clear, AC clear (SMAP enforced), NT clear. */
    wrmsr(MSR_FMASK, RFLAGS_IF | (1u << 8) | (1u << 10) | (1u << 18) | (1u << 14));
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

uint64_t fault_fixup(uint64_t rip)
{
    return rip == (uint64_t)copy_user_fault_ip ? (uint64_t)copy_user_fixup : 0;
}
